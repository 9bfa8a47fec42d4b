/* Generated from ../schemas by `npm run generate`: do not edit. */

export interface HashCheckPayload {
  audio_hash: string;
  filepath: string;
  original_filename: string | null;
  stageId?: string | null;
  status?: "hash_generated";
  stemId: string;
  timestamp: string | null;
  trackId: string | null;
  userId: string | null;
}
