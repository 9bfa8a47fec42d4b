"""Search attributes for finding stems in the Temporal UI and CLI, as waveflow.namespace registers them."""

from temporalio.common import SearchAttributeKey

USER_ID = SearchAttributeKey.for_keyword("WaveFlowUserId")
TRACK_ID = SearchAttributeKey.for_keyword("WaveFlowTrackId")
STAGE = SearchAttributeKey.for_keyword("WaveFlowStage")
ERROR_CODE = SearchAttributeKey.for_keyword("WaveFlowErrorCode")
