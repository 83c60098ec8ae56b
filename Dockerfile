# vigil in a container: the TypeScript sources run with tsx on Node 20 (no build step).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY services ./services
COPY shared ./shared
COPY schemas ./schemas
COPY infra ./infra
COPY console ./console
# The console's bundle, built now so the unprivileged user never needs to write it.
RUN node --import tsx bin/console-build.ts
USER node
EXPOSE 8080
CMD ["node", "--max-semi-space-size=32", "--import", "tsx", "bin/vigil.ts"]
