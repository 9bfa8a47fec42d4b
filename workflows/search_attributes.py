"""Search attributes for finding stems in the Temporal UI and CLI, as waveflow.namespace registers them."""

from temporalio.common import SearchAttributeKey

USER_ID = SearchAttributeKey.for_keyword("WaveFlowUserId")
TRACK_ID = SearchAttributeKey.for_keyword("WaveFlowTrackId")
# Registered as WaveFlowStage before "stage" came to mean only the platform's stage (a mix's stageId); namespaces and
# recorded histories carry that name, so it stays.
PHASE = SearchAttributeKey.for_keyword("WaveFlowStage")
ERROR_CODE = SearchAttributeKey.for_keyword("WaveFlowErrorCode")
