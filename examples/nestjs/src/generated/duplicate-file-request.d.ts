/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `process_duplicate_file`: the server says the stem is a duplicate.
 */
export interface DuplicateFileRequest {
  audio_hash: string;
  filepath: string;
  stemId: string;
  trackId?: string | null;
  userId?: string | null;
}
