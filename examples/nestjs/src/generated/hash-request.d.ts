/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `generate_hash_and_webhook`: the start of a stem.
 */
export interface HashRequest {
  /**
   * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
   */
  filepath: string;
  original_filename?: string | null;
  stageId?: string | null;
  stemId: string;
  timestamp?: string | null;
  trackId?: string | null;
  userId?: string | null;
}
