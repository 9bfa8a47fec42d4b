/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `process_audio_analysis`: the server says the stem is new.
 */
export interface AudioAnalysisRequest {
  audio_hash?: string | null;
  /**
   * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
   */
  filepath: string;
  num_peaks?: number | null;
  original_filename?: string | null;
  stemId: string;
  timestamp?: string | null;
  trackId?: string | null;
  upstreamId?: string | null;
  userId?: string | null;
}
