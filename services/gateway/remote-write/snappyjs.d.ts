// Types of the two snappyjs modules the remote-write adapter uses (the package ships none).
declare module 'snappyjs' {
  /** Decompresses a snappy block; throws when its declared length exceeds maxLength or the stream is invalid. */
  export function uncompress<T extends Uint8Array>(compressed: T, maxLength?: number): T;
  export function compress<T extends Uint8Array>(uncompressed: T): T;
}

declare module 'snappyjs/snappy_decompressor.js' {
  export class SnappyDecompressor {
    constructor(compressed: Uint8Array);
    /** The block's preamble: its uncompressed length (a varint), or -1 when it is not one. */
    readUncompressedLength(): number;
  }
}
