/* Generated from ../schemas by `npm run generate`: do not edit. */

export interface CompletionPayload {
  audio_wave_path: string | null;
  original_filename: string | null;
  processing_time: number;
  result: AnalysisResult | DuplicateDeletedResult | FailureResult;
  stageId?: string | null;
  status: "SUCCESS" | "FAILURE";
  stemId: string;
  timestamp: string;
  trackId: string | null;
  upstreamId: string | null;
  userId: string | null;
}
/**
 * `result` of a SUCCESS completion after analysis (the Celery worker's fields plus added ones).
 */
export interface AnalysisResult {
  audio_data_hash: string;
  channels: number;
  duration: number;
  file_size: number;
  format: string;
  num_peaks: number;
  sample_rate: number;
  waveform_data_path: string;
  waveform_detail_path: string;
}
export interface DuplicateDeletedResult {
  audio_hash: string;
  filepath: string;
  status?: "duplicate_file_deleted";
}
export interface FailureResult {
  error: string;
  error_code:
    | "access_denied"
    | "audio_too_long"
    | "cancelled"
    | "damaged_audio"
    | "decision_timeout"
    | "delete_refused"
    | "file_too_large"
    | "invalid_request"
    | "invalid_stem_path"
    | "mix_too_long"
    | "no_stems"
    | "not_audio"
    | "object_not_found"
    | "processing_failed"
    | "temp_budget_exceeded"
    | "timeout"
    | "too_many_stems"
    | "webhook_rejected";
}
