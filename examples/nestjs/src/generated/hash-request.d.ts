/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `generate_hash_and_webhook`: the start of a stem.
 */
export interface HashRequest {
  filepath: string;
  original_filename?: string | null;
  stageId?: string | null;
  stemId: string;
  timestamp?: string | null;
  trackId?: string | null;
  userId?: string | null;
}
