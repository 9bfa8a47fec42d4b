/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `process_audio_analysis`: the server says the stem is new.
 */
export interface AudioAnalysisRequest {
  audio_hash?: string | null;
  filepath: string;
  num_peaks?: number | null;
  original_filename?: string | null;
  stemId: string;
  timestamp?: string | null;
  trackId?: string | null;
  upstreamId?: string | null;
  userId?: string | null;
}
