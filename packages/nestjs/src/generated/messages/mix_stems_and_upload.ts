/* Generated from schemas/ by `npm run generate`: do not edit. */

export type MixStemsAndUploadMessage = (MixStemsAndUploadEnvelope | MixStemsAndUploadFlat)

/**
 * The task envelope: `mix_stems_and_upload` with its kwargs.
 */
export interface MixStemsAndUploadEnvelope {
task: ("app.tasks.mix_stems_and_upload" | "mix_stems_and_upload")
id?: (string | null)
/**
 * @maxItems 0
 */
args?: []
kwargs: MixRequest
}
/**
 * kwargs of `mix_stems_and_upload`. `stem_paths` is checked by the workflow, so that a missing, empty,
 * too long or malformed list still ends in a FAILURE webhook the server sees.
 */
export interface MixRequest {
stageId: string
upstreamId?: (string | null)
stem_paths?: (string[] | null)
}
/**
 * The kwargs alone at the top level, with the task beside them.
 */
export interface MixStemsAndUploadFlat {
stageId: string
upstreamId?: (string | null)
stem_paths?: (string[] | null)
task: ("app.tasks.mix_stems_and_upload" | "mix_stems_and_upload")
}
