/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * `POST {WEBHOOK_URL}/mixing-complete`: the old worker's fields plus the mix's facts; on FAILURE the facts
 * are null and `result` holds `{error, error_code}`.
 */
export interface MixingCompletePayload {
  audio_data_hash?: string | null;
  channels?: number | null;
  duration?: number | null;
  file_size?: number | null;
  gain?: number | null;
  loudness_lufs?: number | null;
  mixed_file_path?: string | null;
  peak?: number | null;
  processing_time: number;
  result?: FailureResult | null;
  sample_rate?: number | null;
  stageId: string;
  status: "SUCCESS" | "FAILURE";
  stem_count: number;
  stem_paths: string[];
  task_id: string;
  timestamp: string;
  upstreamId: string | null;
  waveform_data_path?: string | null;
  waveform_detail_path?: string | null;
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
