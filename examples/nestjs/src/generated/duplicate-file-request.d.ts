/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `process_duplicate_file`: the server says the stem is a duplicate.
 */
export interface DuplicateFileRequest {
  audio_hash: string;
  /**
   * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
   */
  filepath: string;
  stemId: string;
  trackId?: string | null;
  userId?: string | null;
}
