/* Generated from schemas/ by `npm run generate`: do not edit. */

export interface CompletionPayload {
stemId: string
userId: (string | null)
trackId: (string | null)
upstreamId: (string | null)
status: ("SUCCESS" | "FAILURE")
result: (AnalysisResult | DuplicateDeletedResult | FailureResult)
timestamp: string
original_filename: (string | null)
processing_time: number
audio_wave_path: (string | null)
stageId?: (string | null)
}
/**
 * `result` of a SUCCESS completion after analysis (the Celery worker's fields plus added ones).
 */
export interface AnalysisResult {
audio_data_hash: string
waveform_data_path: string
file_size: number
duration: number
sample_rate: number
num_peaks: number
channels: number
format: string
waveform_detail_path: string
insights?: (AudioInsights | null)
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
export interface DuplicateDeletedResult {
status?: "duplicate_file_deleted"
audio_hash: string
filepath: string
}
export interface FailureResult {
error: string
error_code: ("access_denied" | "audio_too_long" | "cancelled" | "damaged_audio" | "decision_timeout" | "delete_refused" | "file_too_large" | "invalid_request" | "invalid_stem_path" | "mix_too_long" | "no_stems" | "not_audio" | "object_not_found" | "processing_failed" | "temp_budget_exceeded" | "timeout" | "too_many_stems" | "webhook_rejected")
}
