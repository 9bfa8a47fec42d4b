/* Generated from schemas/ by `npm run generate`: do not edit. */

/**
 * The `decide` signal: what the server decided after hash-check.
 */
export interface DedupeDecision {
duplicate: boolean
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
audio_hash?: (string | null)
num_peaks?: (number | null)
upstream_id?: (string | null)
}
