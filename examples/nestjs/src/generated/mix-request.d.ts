/* Generated from ../schemas by `npm run generate`: do not edit. */

/**
 * kwargs of `mix_stems_and_upload`. `stem_paths` is checked by the workflow, so that a missing, empty,
 * too long or malformed list still ends in a FAILURE webhook the server sees.
 */
export interface MixRequest {
  stageId: string;
  stem_paths?: string[] | null;
  upstreamId?: string | null;
}
