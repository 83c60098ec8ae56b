-- The schema infra/migrations build, in one file (npm run schema:dump regenerates it; a test checks it).
--
-- PostgreSQL database dump
--

--
-- Name: vigil_add_counts(bigint[], bigint[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.vigil_add_counts(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN a IS NULL THEN b
                WHEN b IS NULL THEN a
                ELSE (SELECT array_agg(x + y ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)) END
$$;

--
-- Name: vigil_incident_inbox(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.vigil_incident_inbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO incident_inbox (transition_id)
    SELECT id FROM inserted WHERE to_state IN ('firing', 'resolved')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

--
-- Name: vigil_metric_hours_version(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.vigil_metric_hours_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  NEW.version := nextval('metric_hours_version');
  RETURN NEW;
END
$$;

--
-- Name: alert_instances; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_instances (
    rule_id uuid NOT NULL,
    fingerprint text NOT NULL,
    labels jsonb NOT NULL,
    state text NOT NULL,
    value double precision NOT NULL,
    active_at timestamp with time zone NOT NULL,
    fired_at timestamp with time zone,
    keep_firing_since timestamp with time zone,
    topic text,
    partition integer,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT valid_state CHECK ((state = ANY (ARRAY['pending'::text, 'firing'::text])))
);

--
-- Name: alert_owner_generation_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alert_owner_generation_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: alert_partials; Type: TABLE; Schema: public; Owner: -
--

CREATE UNLOGGED TABLE public.alert_partials (
    rule_id uuid NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    group_key text NOT NULL,
    labels jsonb NOT NULL,
    sum double precision NOT NULL,
    count bigint NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    at timestamp with time zone NOT NULL
);

--
-- Name: alert_partition_owners; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_partition_owners (
    topic text NOT NULL,
    partition integer NOT NULL,
    generation bigint NOT NULL,
    claimed_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: alert_rules_revision_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alert_rules_revision_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: alert_rules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_rules (
    id uuid NOT NULL,
    name text NOT NULL,
    description text,
    query text NOT NULL,
    threshold_value double precision,
    for_seconds integer DEFAULT 0 NOT NULL,
    keep_firing_for_seconds integer DEFAULT 0 NOT NULL,
    severity text DEFAULT 'medium'::text NOT NULL,
    labels jsonb DEFAULT '{}'::jsonb NOT NULL,
    annotations jsonb DEFAULT '{}'::jsonb NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    revision bigint DEFAULT nextval('public.alert_rules_revision_seq'::regclass) NOT NULL,
    CONSTRAINT alert_rules_for_seconds_check CHECK ((for_seconds >= 0)),
    CONSTRAINT alert_rules_keep_firing_for_seconds_check CHECK ((keep_firing_for_seconds >= 0)),
    CONSTRAINT valid_severity CHECK ((severity = ANY (ARRAY['low'::text, 'medium'::text, 'high'::text, 'critical'::text])))
);

--
-- Name: alert_transitions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alert_transitions (
    id bigint NOT NULL,
    rule_id uuid NOT NULL,
    rule_name text NOT NULL,
    fingerprint text NOT NULL,
    labels jsonb NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    value double precision,
    active_at timestamp with time zone NOT NULL,
    at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    CONSTRAINT alert_transitions_from_state_check CHECK ((from_state = ANY (ARRAY['inactive'::text, 'pending'::text, 'firing'::text]))),
    CONSTRAINT alert_transitions_to_state_check CHECK ((to_state = ANY (ARRAY['inactive'::text, 'pending'::text, 'firing'::text, 'resolved'::text])))
);

--
-- Name: alert_transitions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.alert_transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: alert_transitions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.alert_transitions_id_seq OWNED BY public.alert_transitions.id;

--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    last_at timestamp with time zone NOT NULL,
    action text NOT NULL,
    actor text,
    role text,
    ip text,
    target text,
    count integer DEFAULT 1 NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT positive_count CHECK ((count > 0))
);

--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;

--
-- Name: consumer_offset_clusters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consumer_offset_clusters (
    consumer_group text NOT NULL,
    cluster_id text NOT NULL,
    bound_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: consumer_offsets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consumer_offsets (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id uuid NOT NULL,
    "timestamp" timestamp with time zone NOT NULL,
    event_type text NOT NULL,
    source text NOT NULL,
    level text,
    message text,
    tags jsonb DEFAULT '{}'::jsonb NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    notable_tags jsonb,
    CONSTRAINT valid_event_type CHECK ((event_type = ANY (ARRAY['log'::text, 'metric'::text, 'trace'::text, 'alert'::text]))),
    CONSTRAINT valid_level CHECK ((level = ANY (ARRAY['trace'::text, 'debug'::text, 'info'::text, 'warn'::text, 'error'::text, 'fatal'::text])))
)
PARTITION BY RANGE ("timestamp");

--
-- Name: incident_alerts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incident_alerts (
    incident_id uuid NOT NULL,
    rule_id uuid NOT NULL,
    fingerprint text NOT NULL,
    rule_name text NOT NULL,
    labels jsonb NOT NULL,
    attached_at timestamp with time zone NOT NULL,
    resolved_at timestamp with time zone
);

--
-- Name: incident_analyses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incident_analyses (
    id bigint NOT NULL,
    incident_id uuid NOT NULL,
    computed_at timestamp with time zone DEFAULT now() NOT NULL,
    trigger text NOT NULL,
    result jsonb NOT NULL,
    CONSTRAINT incident_analyses_trigger_check CHECK ((trigger = ANY (ARRAY['open'::text, 'request'::text])))
);

--
-- Name: incident_analyses_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.incident_analyses_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: incident_analyses_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.incident_analyses_id_seq OWNED BY public.incident_analyses.id;

--
-- Name: incident_inbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incident_inbox (
    transition_id bigint NOT NULL
);

--
-- Name: incident_timeline; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incident_timeline (
    id bigint NOT NULL,
    incident_id uuid NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    kind text NOT NULL,
    message text NOT NULL,
    details jsonb DEFAULT '{}'::jsonb NOT NULL
);

--
-- Name: incident_timeline_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.incident_timeline_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: incident_timeline_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.incident_timeline_id_seq OWNED BY public.incident_timeline.id;

--
-- Name: incident_transitions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incident_transitions (
    transition_id bigint NOT NULL,
    incident_id uuid,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: incidents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.incidents (
    id uuid NOT NULL,
    title text NOT NULL,
    description text,
    severity text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    root_cause text,
    assigned_to text,
    created_by text NOT NULL,
    sources text[] DEFAULT '{}'::text[] NOT NULL,
    tags jsonb DEFAULT '{}'::jsonb NOT NULL,
    alert_rule_id uuid,
    alert_fingerprint text,
    started_at timestamp with time zone NOT NULL,
    resolved_at timestamp with time zone,
    closed_at timestamp with time zone,
    analysis_due boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT valid_incident_severity CHECK ((severity = ANY (ARRAY['low'::text, 'medium'::text, 'high'::text, 'critical'::text]))),
    CONSTRAINT valid_incident_status CHECK ((status = ANY (ARRAY['open'::text, 'investigating'::text, 'identified'::text, 'monitoring'::text, 'resolved'::text, 'closed'::text])))
);

--
-- Name: ingest_ids; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingest_ids (
    kind text NOT NULL,
    id uuid NOT NULL,
    stored_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT valid_kind CHECK ((kind = ANY (ARRAY['event'::text, 'metric'::text])))
);

--
-- Name: ingest_totals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingest_totals (
    day date NOT NULL,
    kind text NOT NULL,
    partition integer NOT NULL,
    count bigint NOT NULL,
    CONSTRAINT valid_kind CHECK ((kind = ANY (ARRAY['event'::text, 'metric'::text])))
);

--
-- Name: metric_hours; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_hours (
    name text NOT NULL,
    metric_type text NOT NULL,
    series bytea NOT NULL,
    hour integer NOT NULL,
    last_ms bytea NOT NULL,
    last_value bytea NOT NULL,
    sample_counts bytea NOT NULL,
    value_sums bytea NOT NULL,
    version bigint
);
ALTER TABLE ONLY public.metric_hours ALTER COLUMN last_ms SET STORAGE PLAIN;
ALTER TABLE ONLY public.metric_hours ALTER COLUMN last_value SET STORAGE PLAIN;
ALTER TABLE ONLY public.metric_hours ALTER COLUMN sample_counts SET STORAGE PLAIN;
ALTER TABLE ONLY public.metric_hours ALTER COLUMN value_sums SET STORAGE PLAIN;

--
-- Name: metric_hours_version; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.metric_hours_version
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: metric_minutes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_minutes (
    name text NOT NULL,
    metric_type text NOT NULL,
    series bytea NOT NULL,
    minute integer NOT NULL,
    last_ms double precision NOT NULL,
    last_value double precision NOT NULL,
    sample_count integer NOT NULL,
    value_sum double precision NOT NULL
);

--
-- Name: metric_series; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_series (
    name text NOT NULL,
    metric_type text NOT NULL,
    labels jsonb NOT NULL,
    sample_count bigint NOT NULL,
    value_sum double precision NOT NULL,
    last_timestamp timestamp with time zone NOT NULL,
    last_value double precision NOT NULL,
    bucket_counts bigint[],
    first_timestamp timestamp with time zone
)
WITH (fillfactor='70');

--
-- Name: metric_series_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_series_counts (
    name text NOT NULL,
    series bigint NOT NULL,
    CONSTRAINT metric_series_counts_series_check CHECK ((series >= 0))
);

--
-- Name: metric_series_fold; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_series_fold (
    singleton boolean DEFAULT true NOT NULL,
    folded_before timestamp with time zone NOT NULL,
    bucket_bounds double precision[] NOT NULL,
    folded_at timestamp with time zone,
    minutes_before timestamp with time zone,
    hours_from integer,
    hours_before integer,
    hours_synced_before timestamp with time zone,
    CONSTRAINT metric_series_fold_singleton_check CHECK (singleton)
);

--
-- Name: metric_series_registry; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_series_registry (
    name text NOT NULL,
    fingerprint text NOT NULL,
    first_seen timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: metrics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metrics (
    id uuid NOT NULL,
    "timestamp" timestamp with time zone NOT NULL,
    name text NOT NULL,
    metric_type text NOT NULL,
    value double precision NOT NULL,
    labels jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT valid_metric_type CHECK ((metric_type = ANY (ARRAY['counter'::text, 'gauge'::text, 'histogram'::text, 'summary'::text])))
)
PARTITION BY RANGE ("timestamp");

--
-- Name: rollups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rollups (
    bucket timestamp with time zone NOT NULL,
    kind text NOT NULL,
    event_type text NOT NULL,
    source text NOT NULL,
    level text DEFAULT ''::text NOT NULL,
    count bigint NOT NULL,
    CONSTRAINT valid_kind CHECK ((kind = ANY (ARRAY['event'::text, 'metric'::text])))
)
PARTITION BY RANGE (bucket);

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: alert_transitions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_transitions ALTER COLUMN id SET DEFAULT nextval('public.alert_transitions_id_seq'::regclass);

--
-- Name: audit_log id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);

--
-- Name: incident_analyses id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_analyses ALTER COLUMN id SET DEFAULT nextval('public.incident_analyses_id_seq'::regclass);

--
-- Name: incident_timeline id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_timeline ALTER COLUMN id SET DEFAULT nextval('public.incident_timeline_id_seq'::regclass);

--
-- Name: alert_instances alert_instances_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_instances
    ADD CONSTRAINT alert_instances_pkey PRIMARY KEY (rule_id, fingerprint);

--
-- Name: alert_partials alert_partials_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_partials
    ADD CONSTRAINT alert_partials_pkey PRIMARY KEY (topic, partition, rule_id, group_key);

--
-- Name: alert_partition_owners alert_partition_owners_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_partition_owners
    ADD CONSTRAINT alert_partition_owners_pkey PRIMARY KEY (topic, partition);

--
-- Name: alert_rules alert_rules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_rules
    ADD CONSTRAINT alert_rules_pkey PRIMARY KEY (id);

--
-- Name: alert_transitions alert_transitions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_transitions
    ADD CONSTRAINT alert_transitions_pkey PRIMARY KEY (id);

--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

--
-- Name: consumer_offset_clusters consumer_offset_clusters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consumer_offset_clusters
    ADD CONSTRAINT consumer_offset_clusters_pkey PRIMARY KEY (consumer_group);

--
-- Name: consumer_offsets consumer_offsets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consumer_offsets
    ADD CONSTRAINT consumer_offsets_pkey PRIMARY KEY (consumer_group, topic, partition);

--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY ("timestamp", id);

--
-- Name: incident_alerts incident_alerts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_alerts
    ADD CONSTRAINT incident_alerts_pkey PRIMARY KEY (incident_id, rule_id, fingerprint);

--
-- Name: incident_analyses incident_analyses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_analyses
    ADD CONSTRAINT incident_analyses_pkey PRIMARY KEY (id);

--
-- Name: incident_inbox incident_inbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_inbox
    ADD CONSTRAINT incident_inbox_pkey PRIMARY KEY (transition_id);

--
-- Name: incident_timeline incident_timeline_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_timeline
    ADD CONSTRAINT incident_timeline_pkey PRIMARY KEY (id);

--
-- Name: incident_transitions incident_transitions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_transitions
    ADD CONSTRAINT incident_transitions_pkey PRIMARY KEY (transition_id);

--
-- Name: incidents incidents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incidents
    ADD CONSTRAINT incidents_pkey PRIMARY KEY (id);

--
-- Name: ingest_ids ingest_ids_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_ids
    ADD CONSTRAINT ingest_ids_pkey PRIMARY KEY (kind, id);

--
-- Name: ingest_totals ingest_totals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingest_totals
    ADD CONSTRAINT ingest_totals_pkey PRIMARY KEY (day, kind, partition);

--
-- Name: metric_hours metric_hours_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_hours
    ADD CONSTRAINT metric_hours_pkey PRIMARY KEY (name, metric_type, series, hour);

--
-- Name: metric_minutes metric_minutes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_minutes
    ADD CONSTRAINT metric_minutes_pkey PRIMARY KEY (name, metric_type, series, minute) INCLUDE (last_ms, last_value, sample_count, value_sum);

--
-- Name: metric_series_counts metric_series_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_series_counts
    ADD CONSTRAINT metric_series_counts_pkey PRIMARY KEY (name);

--
-- Name: metric_series_fold metric_series_fold_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_series_fold
    ADD CONSTRAINT metric_series_fold_pkey PRIMARY KEY (singleton);

--
-- Name: metric_series_registry metric_series_registry_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_series_registry
    ADD CONSTRAINT metric_series_registry_pkey PRIMARY KEY (name, fingerprint);

--
-- Name: metrics metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metrics
    ADD CONSTRAINT metrics_pkey PRIMARY KEY ("timestamp", id);

--
-- Name: rollups rollups_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rollups
    ADD CONSTRAINT rollups_pkey PRIMARY KEY (bucket, kind, event_type, source, level);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: alert_instances_firing_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_instances_firing_idx ON public.alert_instances USING btree (state) WHERE (state = 'firing'::text);

--
-- Name: alert_instances_owner_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_instances_owner_idx ON public.alert_instances USING btree (topic, partition);

--
-- Name: alert_instances_rule_active_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_instances_rule_active_idx ON public.alert_instances USING btree (rule_id, active_at, fingerprint);

--
-- Name: alert_rules_name_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX alert_rules_name_idx ON public.alert_rules USING btree (lower(name));

--
-- Name: alert_transitions_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_transitions_at_idx ON public.alert_transitions USING btree (at);

--
-- Name: alert_transitions_rule_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_transitions_rule_idx ON public.alert_transitions USING btree (rule_id, at);

--
-- Name: alert_transitions_undelivered_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX alert_transitions_undelivered_idx ON public.alert_transitions USING btree (id) WHERE (delivered_at IS NULL);

--
-- Name: audit_log_action_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_log_action_at_idx ON public.audit_log USING btree (action, at DESC, id DESC);

--
-- Name: audit_log_actor_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_log_actor_at_idx ON public.audit_log USING btree (actor, at DESC, id DESC);

--
-- Name: audit_log_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_log_at_idx ON public.audit_log USING btree (at DESC, id DESC);

--
-- Name: events_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_id_idx ON ONLY public.events USING btree (id);

--
-- Name: events_notable_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_notable_idx ON ONLY public.events USING btree (source, "timestamp") INCLUDE (id, event_type, notable_tags) WHERE ((level = ANY (ARRAY['warn'::text, 'error'::text, 'fatal'::text])) OR (event_type = 'alert'::text));

--
-- Name: events_source_timestamp_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_source_timestamp_idx ON ONLY public.events USING btree (source, "timestamp");

--
-- Name: events_system_alerts_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_system_alerts_idx ON ONLY public.events USING btree ("timestamp", id) INCLUDE (notable_tags) WHERE ((source = 'vigil-alerter'::text) AND (event_type = 'alert'::text) AND (created_by = 'vigil-alerter'::text));

--
-- Name: events_trace_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_trace_id_idx ON ONLY public.events USING btree (((tags ->> 'trace_id'::text)), "timestamp") WHERE ((tags ->> 'trace_id'::text) IS NOT NULL);

--
-- Name: events_trace_roots_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_trace_roots_idx ON ONLY public.events USING btree ("timestamp") WHERE ((event_type = 'trace'::text) AND ((tags ->> 'parent_span_id'::text) IS NULL));

--
-- Name: incident_analyses_incident_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incident_analyses_incident_idx ON public.incident_analyses USING btree (incident_id, computed_at DESC);

--
-- Name: incident_timeline_incident_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incident_timeline_incident_idx ON public.incident_timeline USING btree (incident_id, at, id);

--
-- Name: incidents_analysis_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_analysis_due_idx ON public.incidents USING btree (created_at) WHERE analysis_due;

--
-- Name: incidents_assigned_to_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_assigned_to_idx ON public.incidents USING btree (assigned_to, started_at DESC) WHERE (assigned_to IS NOT NULL);

--
-- Name: incidents_created_by_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_created_by_idx ON public.incidents USING btree (created_by, started_at DESC);

--
-- Name: incidents_open_alert_rule_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_open_alert_rule_idx ON public.incidents USING btree (alert_rule_id, started_at DESC) WHERE ((alert_rule_id IS NOT NULL) AND (status <> ALL (ARRAY['resolved'::text, 'closed'::text])));

--
-- Name: incidents_open_alert_series_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX incidents_open_alert_series_idx ON public.incidents USING btree (alert_rule_id, alert_fingerprint) WHERE ((alert_rule_id IS NOT NULL) AND (status <> ALL (ARRAY['resolved'::text, 'closed'::text])));

--
-- Name: incidents_started_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_started_idx ON public.incidents USING btree (started_at DESC, id DESC);

--
-- Name: incidents_unresolved_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX incidents_unresolved_idx ON public.incidents USING btree (status) WHERE (status <> ALL (ARRAY['resolved'::text, 'closed'::text]));

--
-- Name: ingest_ids_stored_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ingest_ids_stored_at_idx ON public.ingest_ids USING brin (stored_at);

--
-- Name: metric_hours_hour_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metric_hours_hour_idx ON public.metric_hours USING btree (hour);

--
-- Name: metric_hours_unversioned_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metric_hours_unversioned_idx ON public.metric_hours USING btree (hour) WHERE (version IS NULL);

--
-- Name: metric_minutes_minute_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metric_minutes_minute_idx ON public.metric_minutes USING btree (minute);

--
-- Name: metric_series_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX metric_series_key_idx ON public.metric_series USING btree (name, metric_type, sha256(jsonb_send(labels)));

--
-- Name: metric_series_registry_first_seen_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metric_series_registry_first_seen_idx ON public.metric_series_registry USING btree (first_seen);

--
-- Name: metrics_created_at_brin_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metrics_created_at_brin_idx ON ONLY public.metrics USING brin (created_at) WITH (pages_per_range='16', autosummarize='on');

--
-- Name: metrics_name_timestamp_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX metrics_name_timestamp_idx ON ONLY public.metrics USING btree (name, "timestamp");

--
-- Name: alert_transitions alert_transitions_incident_inbox; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER alert_transitions_incident_inbox AFTER INSERT ON public.alert_transitions REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION public.vigil_incident_inbox();

--
-- Name: metric_hours metric_hours_version; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER metric_hours_version BEFORE INSERT OR UPDATE ON public.metric_hours FOR EACH ROW EXECUTE FUNCTION public.vigil_metric_hours_version();

--
-- Name: alert_instances alert_instances_rule_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alert_instances
    ADD CONSTRAINT alert_instances_rule_id_fkey FOREIGN KEY (rule_id) REFERENCES public.alert_rules(id) ON DELETE CASCADE;

--
-- Name: incident_alerts incident_alerts_incident_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_alerts
    ADD CONSTRAINT incident_alerts_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES public.incidents(id) ON DELETE CASCADE;

--
-- Name: incident_analyses incident_analyses_incident_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_analyses
    ADD CONSTRAINT incident_analyses_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES public.incidents(id) ON DELETE CASCADE;

--
-- Name: incident_timeline incident_timeline_incident_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_timeline
    ADD CONSTRAINT incident_timeline_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES public.incidents(id) ON DELETE CASCADE;

--
-- Name: incident_transitions incident_transitions_incident_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.incident_transitions
    ADD CONSTRAINT incident_transitions_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES public.incidents(id) ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--
