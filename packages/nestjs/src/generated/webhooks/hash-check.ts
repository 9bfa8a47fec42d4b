/* Generated from schemas/ by `npm run generate`: do not edit. */

export interface HashCheckPayload {
stemId: string
userId: (string | null)
trackId: (string | null)
filepath: string
audio_hash: string
timestamp: (string | null)
original_filename: (string | null)
status?: "hash_generated"
stageId?: (string | null)
}
