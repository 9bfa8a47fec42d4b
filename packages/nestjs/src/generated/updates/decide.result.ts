/* Generated from schemas/ by `npm run generate`: do not edit. */

/**
 * What the `decide` update answers; a refused decision is a rejected update carrying the reason.
 */
export interface DecisionReceipt {
outcome: ("accepted" | "already_decided")
decision_in_force: DedupeDecision
}
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
