/* Generated from schemas/ by `npm run generate`: do not edit. */

export type ProcessDuplicateFileMessage = (ProcessDuplicateFileEnvelope | ProcessDuplicateFileFlat)

/**
 * The task envelope: `process_duplicate_file` with its kwargs.
 */
export interface ProcessDuplicateFileEnvelope {
task: ("app.tasks.process_duplicate_file" | "process_duplicate_file")
id?: (string | null)
/**
 * @maxItems 0
 */
args?: []
kwargs: DuplicateFileRequest
}
/**
 * kwargs of `process_duplicate_file`: the server says the stem is a duplicate.
 */
export interface DuplicateFileRequest {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
audio_hash: string
userId?: (string | null)
trackId?: (string | null)
}
/**
 * The kwargs alone at the top level, with the task beside them.
 */
export interface ProcessDuplicateFileFlat {
stemId: string
/**
 * an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8
 */
filepath: string
audio_hash: string
userId?: (string | null)
trackId?: (string | null)
task: ("app.tasks.process_duplicate_file" | "process_duplicate_file")
}
