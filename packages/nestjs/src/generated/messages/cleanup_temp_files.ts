/* Generated from schemas/ by `npm run generate`: do not edit. */

export type CleanupTempFilesMessage = (CleanupTempFilesEnvelope | CleanupTempFilesFlat)

/**
 * The task envelope: `cleanup_temp_files` with its kwargs.
 */
export interface CleanupTempFilesEnvelope {
task: ("app.tasks.cleanup_temp_files" | "cleanup_temp_files")
id?: (string | null)
/**
 * @maxItems 0
 */
args?: []
kwargs: NoKwargs
}
/**
 * `cleanup_temp_files` and `health_check` take no arguments; anything sent is ignored.
 */
export interface NoKwargs {

}
/**
 * The kwargs alone at the top level, with the task beside them.
 */
export interface CleanupTempFilesFlat {
task: ("app.tasks.cleanup_temp_files" | "cleanup_temp_files")
}
