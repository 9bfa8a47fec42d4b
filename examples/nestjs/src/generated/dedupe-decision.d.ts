/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * The `decide` signal: what the server decided after hash-check.
 */
export interface DedupeDecision {
  audio_hash?: string | null;
  duplicate: boolean;
  filepath: string;
  num_peaks?: number | null;
  upstream_id?: string | null;
}
