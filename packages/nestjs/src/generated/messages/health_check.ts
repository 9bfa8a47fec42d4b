/* Generated from schemas/ by `npm run generate`: do not edit. */

export type HealthCheckMessage = (HealthCheckEnvelope | HealthCheckFlat)

/**
 * The task envelope: `health_check` with its kwargs.
 */
export interface HealthCheckEnvelope {
task: ("app.tasks.health_check" | "health_check")
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
export interface HealthCheckFlat {
task: ("app.tasks.health_check" | "health_check")
}
