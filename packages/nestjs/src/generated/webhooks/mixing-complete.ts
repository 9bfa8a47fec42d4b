/* Generated from schemas/ by `npm run generate`: do not edit. */

/**
 * `POST {WEBHOOK_URL}/mixing-complete`: the old worker's fields plus the mix's facts; on FAILURE the facts
 * are null and `result` holds `{error, error_code}`.
 */
export interface MixingCompletePayload {
stageId: string
status: ("SUCCESS" | "FAILURE")
upstreamId: (string | null)
task_id: string
stem_count: number
stem_paths: string[]
mixed_file_path?: (string | null)
waveform_data_path?: (string | null)
waveform_detail_path?: (string | null)
audio_data_hash?: (string | null)
file_size?: (number | null)
duration?: (number | null)
sample_rate?: (number | null)
channels?: (number | null)
peak?: (number | null)
gain?: (number | null)
loudness_lufs?: (number | null)
insights?: (AudioInsights | null)
processing_time: number
timestamp: string
result?: (FailureResult | null)
}
/**
 * What a musician needs to know about a stem (or a mix), measured in the pass that draws its waveform.
 */
export interface AudioInsights {
integrated_lufs: (number | null)
true_peak_dbtp: (number | null)
sample_peak_dbfs: (number | null)
clipped_samples: number
clipped_runs: number
first_clips_seconds: number[]
silent: boolean
leading_silence_seconds: number
trailing_silence_seconds: number
dc_offset: number[]
}
export interface FailureResult {
error: string
error_code: ("access_denied" | "audio_too_long" | "cancelled" | "damaged_audio" | "decision_timeout" | "delete_refused" | "file_too_large" | "invalid_request" | "invalid_stem_path" | "mix_too_long" | "no_stems" | "not_audio" | "object_not_found" | "processing_failed" | "temp_budget_exceeded" | "timeout" | "too_many_stems" | "webhook_rejected")
}
