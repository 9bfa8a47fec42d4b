/* Generated from schemas/ by `npm run generate`: do not edit. */

export type ProcessAudioAnalysisMessage = (ProcessAudioAnalysisEnvelope | ProcessAudioAnalysisFlat)

/**
 * The task envelope: `process_audio_analysis` with its kwargs.
 */
export interface ProcessAudioAnalysisEnvelope {
task: ("app.tasks.process_audio_analysis" | "process_audio_analysis")
id?: (string | null)
/**
 * @maxItems 0
 */
args?: []
kwargs: AudioAnalysisRequest
}
/**
 * kwargs of `process_audio_analysis`: the server says the stem is new.
 */
export interface AudioAnalysisRequest {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
audio_hash?: (string | null)
userId?: (string | null)
trackId?: (string | null)
timestamp?: (string | null)
original_filename?: (string | null)
num_peaks?: (number | null)
upstreamId?: (string | null)
}
/**
 * The kwargs alone at the top level, with the task beside them.
 */
export interface ProcessAudioAnalysisFlat {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
audio_hash?: (string | null)
userId?: (string | null)
trackId?: (string | null)
timestamp?: (string | null)
original_filename?: (string | null)
num_peaks?: (number | null)
upstreamId?: (string | null)
task: ("app.tasks.process_audio_analysis" | "process_audio_analysis")
}
