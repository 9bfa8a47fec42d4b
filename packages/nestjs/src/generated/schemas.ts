/* Generated from schemas/ by `npm run generate`: do not edit. */

/** The name of each wire schema: its path under schemas/ without `.schema.json`. */
export type WireSchemaName =
  | 'messages/cleanup_temp_files'
  | 'messages/generate_hash_and_webhook'
  | 'messages/health_check'
  | 'messages/mix_stems_and_upload'
  | 'messages/process_audio_analysis'
  | 'messages/process_duplicate_file'
  | 'signals/decide'
  | 'updates/decide.result'
  | 'webhooks/completion'
  | 'webhooks/hash-check'
  | 'webhooks/mixing-complete';

/** WaveFlow's JSON Schemas (draft 2020-12), what the validators check every payload against. */
export const WIRE_SCHEMAS: Readonly<Record<WireSchemaName, Record<string, unknown>>> = {
  "messages/cleanup_temp_files": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: cleanup_temp_files",
    "$defs": {
      "CleanupTempFilesEnvelope": {
        "description": "The task envelope: `cleanup_temp_files` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.cleanup_temp_files",
              "cleanup_temp_files"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/NoKwargs"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "CleanupTempFilesEnvelope",
        "type": "object"
      },
      "CleanupTempFilesFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.cleanup_temp_files",
              "cleanup_temp_files"
            ],
            "title": "Task",
            "type": "string"
          }
        },
        "required": [
          "task"
        ],
        "title": "CleanupTempFilesFlat",
        "type": "object"
      },
      "NoKwargs": {
        "description": "`cleanup_temp_files` and `health_check` take no arguments; anything sent is ignored.",
        "properties": {},
        "title": "NoKwargs",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/CleanupTempFilesEnvelope"
      },
      {
        "$ref": "#/$defs/CleanupTempFilesFlat"
      }
    ]
  },
  "messages/generate_hash_and_webhook": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: generate_hash_and_webhook",
    "$defs": {
      "GenerateHashAndWebhookEnvelope": {
        "description": "The task envelope: `generate_hash_and_webhook` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.generate_hash_and_webhook",
              "generate_hash_and_webhook"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/HashRequest"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "GenerateHashAndWebhookEnvelope",
        "type": "object"
      },
      "GenerateHashAndWebhookFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          },
          "timestamp": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Timestamp"
          },
          "original_filename": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Original Filename"
          },
          "stageId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Stageid"
          },
          "task": {
            "anyOf": [
              {
                "enum": [
                  "app.tasks.generate_hash_and_webhook",
                  "generate_hash_and_webhook"
                ],
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Task"
          }
        },
        "required": [
          "stemId",
          "filepath"
        ],
        "title": "GenerateHashAndWebhookFlat",
        "type": "object"
      },
      "HashRequest": {
        "description": "kwargs of `generate_hash_and_webhook`: the start of a stem.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          },
          "timestamp": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Timestamp"
          },
          "original_filename": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Original Filename"
          },
          "stageId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Stageid"
          }
        },
        "required": [
          "stemId",
          "filepath"
        ],
        "title": "HashRequest",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/GenerateHashAndWebhookEnvelope"
      },
      {
        "$ref": "#/$defs/GenerateHashAndWebhookFlat"
      }
    ]
  },
  "messages/health_check": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: health_check",
    "$defs": {
      "HealthCheckEnvelope": {
        "description": "The task envelope: `health_check` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.health_check",
              "health_check"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/NoKwargs"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "HealthCheckEnvelope",
        "type": "object"
      },
      "HealthCheckFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.health_check",
              "health_check"
            ],
            "title": "Task",
            "type": "string"
          }
        },
        "required": [
          "task"
        ],
        "title": "HealthCheckFlat",
        "type": "object"
      },
      "NoKwargs": {
        "description": "`cleanup_temp_files` and `health_check` take no arguments; anything sent is ignored.",
        "properties": {},
        "title": "NoKwargs",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/HealthCheckEnvelope"
      },
      {
        "$ref": "#/$defs/HealthCheckFlat"
      }
    ]
  },
  "messages/mix_stems_and_upload": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: mix_stems_and_upload",
    "$defs": {
      "MixRequest": {
        "description": "kwargs of `mix_stems_and_upload`. `stem_paths` is checked by the workflow, so that a missing, empty,\ntoo long or malformed list still ends in a FAILURE webhook the server sees.",
        "properties": {
          "stageId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stageid",
            "type": "string"
          },
          "upstreamId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Upstreamid"
          },
          "stem_paths": {
            "anyOf": [
              {
                "items": {
                  "type": "string"
                },
                "type": "array"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Stem Paths"
          }
        },
        "required": [
          "stageId"
        ],
        "title": "MixRequest",
        "type": "object"
      },
      "MixStemsAndUploadEnvelope": {
        "description": "The task envelope: `mix_stems_and_upload` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.mix_stems_and_upload",
              "mix_stems_and_upload"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/MixRequest"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "MixStemsAndUploadEnvelope",
        "type": "object"
      },
      "MixStemsAndUploadFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "stageId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stageid",
            "type": "string"
          },
          "upstreamId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Upstreamid"
          },
          "stem_paths": {
            "anyOf": [
              {
                "items": {
                  "type": "string"
                },
                "type": "array"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Stem Paths"
          },
          "task": {
            "enum": [
              "app.tasks.mix_stems_and_upload",
              "mix_stems_and_upload"
            ],
            "title": "Task",
            "type": "string"
          }
        },
        "required": [
          "stageId",
          "task"
        ],
        "title": "MixStemsAndUploadFlat",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/MixStemsAndUploadEnvelope"
      },
      {
        "$ref": "#/$defs/MixStemsAndUploadFlat"
      }
    ]
  },
  "messages/process_audio_analysis": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: process_audio_analysis",
    "$defs": {
      "AudioAnalysisRequest": {
        "description": "kwargs of `process_audio_analysis`: the server says the stem is new.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "audio_hash": {
            "anyOf": [
              {
                "pattern": "^[0-9a-fA-F]{64}$",
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Audio Hash"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          },
          "timestamp": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Timestamp"
          },
          "original_filename": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Original Filename"
          },
          "num_peaks": {
            "anyOf": [
              {
                "maximum": 100000,
                "minimum": 1,
                "type": "integer"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Num Peaks"
          },
          "upstreamId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Upstreamid"
          }
        },
        "required": [
          "stemId",
          "filepath"
        ],
        "title": "AudioAnalysisRequest",
        "type": "object"
      },
      "ProcessAudioAnalysisEnvelope": {
        "description": "The task envelope: `process_audio_analysis` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.process_audio_analysis",
              "process_audio_analysis"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/AudioAnalysisRequest"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "ProcessAudioAnalysisEnvelope",
        "type": "object"
      },
      "ProcessAudioAnalysisFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "audio_hash": {
            "anyOf": [
              {
                "pattern": "^[0-9a-fA-F]{64}$",
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Audio Hash"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          },
          "timestamp": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Timestamp"
          },
          "original_filename": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Original Filename"
          },
          "num_peaks": {
            "anyOf": [
              {
                "maximum": 100000,
                "minimum": 1,
                "type": "integer"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Num Peaks"
          },
          "upstreamId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Upstreamid"
          },
          "task": {
            "enum": [
              "app.tasks.process_audio_analysis",
              "process_audio_analysis"
            ],
            "title": "Task",
            "type": "string"
          }
        },
        "required": [
          "stemId",
          "filepath",
          "task"
        ],
        "title": "ProcessAudioAnalysisFlat",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/ProcessAudioAnalysisEnvelope"
      },
      {
        "$ref": "#/$defs/ProcessAudioAnalysisFlat"
      }
    ]
  },
  "messages/process_duplicate_file": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "SQS message: process_duplicate_file",
    "$defs": {
      "DuplicateFileRequest": {
        "description": "kwargs of `process_duplicate_file`: the server says the stem is a duplicate.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "audio_hash": {
            "pattern": "^[0-9a-fA-F]{64}$",
            "title": "Audio Hash",
            "type": "string"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          }
        },
        "required": [
          "stemId",
          "filepath",
          "audio_hash"
        ],
        "title": "DuplicateFileRequest",
        "type": "object"
      },
      "ProcessDuplicateFileEnvelope": {
        "description": "The task envelope: `process_duplicate_file` with its kwargs.",
        "properties": {
          "task": {
            "enum": [
              "app.tasks.process_duplicate_file",
              "process_duplicate_file"
            ],
            "title": "Task",
            "type": "string"
          },
          "id": {
            "anyOf": [
              {
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Id"
          },
          "args": {
            "default": [],
            "items": {},
            "maxItems": 0,
            "title": "Args",
            "type": "array"
          },
          "kwargs": {
            "$ref": "#/$defs/DuplicateFileRequest"
          }
        },
        "required": [
          "task",
          "kwargs"
        ],
        "title": "ProcessDuplicateFileEnvelope",
        "type": "object"
      },
      "ProcessDuplicateFileFlat": {
        "description": "The kwargs alone at the top level, with the task beside them.",
        "properties": {
          "stemId": {
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            "title": "Stemid",
            "type": "string"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "audio_hash": {
            "pattern": "^[0-9a-fA-F]{64}$",
            "title": "Audio Hash",
            "type": "string"
          },
          "userId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Userid"
          },
          "trackId": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Trackid"
          },
          "task": {
            "enum": [
              "app.tasks.process_duplicate_file",
              "process_duplicate_file"
            ],
            "title": "Task",
            "type": "string"
          }
        },
        "required": [
          "stemId",
          "filepath",
          "audio_hash",
          "task"
        ],
        "title": "ProcessDuplicateFileFlat",
        "type": "object"
      }
    },
    "anyOf": [
      {
        "$ref": "#/$defs/ProcessDuplicateFileEnvelope"
      },
      {
        "$ref": "#/$defs/ProcessDuplicateFileFlat"
      }
    ]
  },
  "signals/decide": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "description": "The `decide` signal: what the server decided after hash-check.",
    "properties": {
      "duplicate": {
        "title": "Duplicate",
        "type": "boolean"
      },
      "filepath": {
        "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
        "minLength": 1,
        "title": "Filepath",
        "type": "string"
      },
      "audio_hash": {
        "anyOf": [
          {
            "pattern": "^[0-9a-fA-F]{64}$",
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Audio Hash"
      },
      "num_peaks": {
        "anyOf": [
          {
            "maximum": 100000,
            "minimum": 1,
            "type": "integer"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Num Peaks"
      },
      "upstream_id": {
        "anyOf": [
          {
            "maxLength": 512,
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Upstream Id"
      }
    },
    "required": [
      "duplicate",
      "filepath"
    ],
    "title": "Temporal signal: decide",
    "type": "object"
  },
  "updates/decide.result": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
      "DedupeDecision": {
        "description": "The `decide` signal: what the server decided after hash-check.",
        "properties": {
          "duplicate": {
            "title": "Duplicate",
            "type": "boolean"
          },
          "filepath": {
            "description": "an S3 key in the bucket: no URL, no leading '/', no '.' or '..' segment, no control character, at most 1024 bytes of UTF-8",
            "minLength": 1,
            "title": "Filepath",
            "type": "string"
          },
          "audio_hash": {
            "anyOf": [
              {
                "pattern": "^[0-9a-fA-F]{64}$",
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Audio Hash"
          },
          "num_peaks": {
            "anyOf": [
              {
                "maximum": 100000,
                "minimum": 1,
                "type": "integer"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Num Peaks"
          },
          "upstream_id": {
            "anyOf": [
              {
                "maxLength": 512,
                "type": "string"
              },
              {
                "type": "null"
              }
            ],
            "default": null,
            "title": "Upstream Id"
          }
        },
        "required": [
          "duplicate",
          "filepath"
        ],
        "title": "DedupeDecision",
        "type": "object"
      }
    },
    "description": "What the `decide` update answers; a refused decision is a rejected update carrying the reason.",
    "properties": {
      "outcome": {
        "enum": [
          "accepted",
          "already_decided"
        ],
        "title": "Outcome",
        "type": "string"
      },
      "decision_in_force": {
        "$ref": "#/$defs/DedupeDecision"
      }
    },
    "required": [
      "outcome",
      "decision_in_force"
    ],
    "title": "Temporal update: decide (its result)",
    "type": "object"
  },
  "webhooks/completion": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
      "AnalysisResult": {
        "description": "`result` of a SUCCESS completion after analysis (the Celery worker's fields plus added ones).",
        "properties": {
          "audio_data_hash": {
            "title": "Audio Data Hash",
            "type": "string"
          },
          "waveform_data_path": {
            "title": "Waveform Data Path",
            "type": "string"
          },
          "file_size": {
            "title": "File Size",
            "type": "integer"
          },
          "duration": {
            "title": "Duration",
            "type": "number"
          },
          "sample_rate": {
            "title": "Sample Rate",
            "type": "integer"
          },
          "num_peaks": {
            "title": "Num Peaks",
            "type": "integer"
          },
          "channels": {
            "title": "Channels",
            "type": "integer"
          },
          "format": {
            "title": "Format",
            "type": "string"
          },
          "waveform_detail_path": {
            "title": "Waveform Detail Path",
            "type": "string"
          },
          "insights": {
            "anyOf": [
              {
                "$ref": "#/$defs/AudioInsights"
              },
              {
                "type": "null"
              }
            ],
            "default": null
          }
        },
        "required": [
          "audio_data_hash",
          "waveform_data_path",
          "file_size",
          "duration",
          "sample_rate",
          "num_peaks",
          "channels",
          "format",
          "waveform_detail_path"
        ],
        "title": "AnalysisResult",
        "type": "object"
      },
      "AudioInsights": {
        "description": "What a musician needs to know about a stem (or a mix), measured in the pass that draws its waveform.",
        "properties": {
          "integrated_lufs": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "Integrated Lufs"
          },
          "true_peak_dbtp": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "True Peak Dbtp"
          },
          "sample_peak_dbfs": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "Sample Peak Dbfs"
          },
          "clipped_samples": {
            "title": "Clipped Samples",
            "type": "integer"
          },
          "clipped_runs": {
            "title": "Clipped Runs",
            "type": "integer"
          },
          "first_clips_seconds": {
            "items": {
              "type": "number"
            },
            "title": "First Clips Seconds",
            "type": "array"
          },
          "silent": {
            "title": "Silent",
            "type": "boolean"
          },
          "leading_silence_seconds": {
            "title": "Leading Silence Seconds",
            "type": "number"
          },
          "trailing_silence_seconds": {
            "title": "Trailing Silence Seconds",
            "type": "number"
          },
          "dc_offset": {
            "items": {
              "type": "number"
            },
            "title": "Dc Offset",
            "type": "array"
          }
        },
        "required": [
          "integrated_lufs",
          "true_peak_dbtp",
          "sample_peak_dbfs",
          "clipped_samples",
          "clipped_runs",
          "first_clips_seconds",
          "silent",
          "leading_silence_seconds",
          "trailing_silence_seconds",
          "dc_offset"
        ],
        "title": "AudioInsights",
        "type": "object"
      },
      "DuplicateDeletedResult": {
        "properties": {
          "status": {
            "const": "duplicate_file_deleted",
            "default": "duplicate_file_deleted",
            "title": "Status",
            "type": "string"
          },
          "audio_hash": {
            "title": "Audio Hash",
            "type": "string"
          },
          "filepath": {
            "title": "Filepath",
            "type": "string"
          }
        },
        "required": [
          "audio_hash",
          "filepath"
        ],
        "title": "DuplicateDeletedResult",
        "type": "object"
      },
      "FailureResult": {
        "properties": {
          "error": {
            "title": "Error",
            "type": "string"
          },
          "error_code": {
            "enum": [
              "access_denied",
              "audio_too_long",
              "cancelled",
              "damaged_audio",
              "decision_timeout",
              "delete_refused",
              "file_too_large",
              "invalid_request",
              "invalid_stem_path",
              "mix_too_long",
              "no_stems",
              "not_audio",
              "object_not_found",
              "processing_failed",
              "temp_budget_exceeded",
              "timeout",
              "too_many_stems",
              "webhook_rejected"
            ],
            "title": "Error Code",
            "type": "string"
          }
        },
        "required": [
          "error",
          "error_code"
        ],
        "title": "FailureResult",
        "type": "object"
      }
    },
    "properties": {
      "stemId": {
        "title": "Stemid",
        "type": "string"
      },
      "userId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Userid"
      },
      "trackId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Trackid"
      },
      "upstreamId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Upstreamid"
      },
      "status": {
        "enum": [
          "SUCCESS",
          "FAILURE"
        ],
        "title": "Status",
        "type": "string"
      },
      "result": {
        "anyOf": [
          {
            "$ref": "#/$defs/AnalysisResult"
          },
          {
            "$ref": "#/$defs/DuplicateDeletedResult"
          },
          {
            "$ref": "#/$defs/FailureResult"
          }
        ],
        "title": "Result"
      },
      "timestamp": {
        "title": "Timestamp",
        "type": "string"
      },
      "original_filename": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Original Filename"
      },
      "processing_time": {
        "title": "Processing Time",
        "type": "number"
      },
      "audio_wave_path": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Audio Wave Path"
      },
      "stageId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Stageid"
      }
    },
    "required": [
      "stemId",
      "userId",
      "trackId",
      "upstreamId",
      "status",
      "result",
      "timestamp",
      "original_filename",
      "processing_time",
      "audio_wave_path"
    ],
    "title": "Webhook: POST {WEBHOOK_URL}/completion",
    "type": "object"
  },
  "webhooks/hash-check": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "properties": {
      "stemId": {
        "title": "Stemid",
        "type": "string"
      },
      "userId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Userid"
      },
      "trackId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Trackid"
      },
      "filepath": {
        "title": "Filepath",
        "type": "string"
      },
      "audio_hash": {
        "title": "Audio Hash",
        "type": "string"
      },
      "timestamp": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Timestamp"
      },
      "original_filename": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Original Filename"
      },
      "status": {
        "const": "hash_generated",
        "default": "hash_generated",
        "title": "Status",
        "type": "string"
      },
      "stageId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Stageid"
      }
    },
    "required": [
      "stemId",
      "userId",
      "trackId",
      "filepath",
      "audio_hash",
      "timestamp",
      "original_filename"
    ],
    "title": "Webhook: POST {WEBHOOK_URL}/hash-check",
    "type": "object"
  },
  "webhooks/mixing-complete": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
      "AudioInsights": {
        "description": "What a musician needs to know about a stem (or a mix), measured in the pass that draws its waveform.",
        "properties": {
          "integrated_lufs": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "Integrated Lufs"
          },
          "true_peak_dbtp": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "True Peak Dbtp"
          },
          "sample_peak_dbfs": {
            "anyOf": [
              {
                "type": "number"
              },
              {
                "type": "null"
              }
            ],
            "title": "Sample Peak Dbfs"
          },
          "clipped_samples": {
            "title": "Clipped Samples",
            "type": "integer"
          },
          "clipped_runs": {
            "title": "Clipped Runs",
            "type": "integer"
          },
          "first_clips_seconds": {
            "items": {
              "type": "number"
            },
            "title": "First Clips Seconds",
            "type": "array"
          },
          "silent": {
            "title": "Silent",
            "type": "boolean"
          },
          "leading_silence_seconds": {
            "title": "Leading Silence Seconds",
            "type": "number"
          },
          "trailing_silence_seconds": {
            "title": "Trailing Silence Seconds",
            "type": "number"
          },
          "dc_offset": {
            "items": {
              "type": "number"
            },
            "title": "Dc Offset",
            "type": "array"
          }
        },
        "required": [
          "integrated_lufs",
          "true_peak_dbtp",
          "sample_peak_dbfs",
          "clipped_samples",
          "clipped_runs",
          "first_clips_seconds",
          "silent",
          "leading_silence_seconds",
          "trailing_silence_seconds",
          "dc_offset"
        ],
        "title": "AudioInsights",
        "type": "object"
      },
      "FailureResult": {
        "properties": {
          "error": {
            "title": "Error",
            "type": "string"
          },
          "error_code": {
            "enum": [
              "access_denied",
              "audio_too_long",
              "cancelled",
              "damaged_audio",
              "decision_timeout",
              "delete_refused",
              "file_too_large",
              "invalid_request",
              "invalid_stem_path",
              "mix_too_long",
              "no_stems",
              "not_audio",
              "object_not_found",
              "processing_failed",
              "temp_budget_exceeded",
              "timeout",
              "too_many_stems",
              "webhook_rejected"
            ],
            "title": "Error Code",
            "type": "string"
          }
        },
        "required": [
          "error",
          "error_code"
        ],
        "title": "FailureResult",
        "type": "object"
      }
    },
    "description": "`POST {WEBHOOK_URL}/mixing-complete`: the old worker's fields plus the mix's facts; on FAILURE the facts\nare null and `result` holds `{error, error_code}`.",
    "properties": {
      "stageId": {
        "title": "Stageid",
        "type": "string"
      },
      "status": {
        "enum": [
          "SUCCESS",
          "FAILURE"
        ],
        "title": "Status",
        "type": "string"
      },
      "upstreamId": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "title": "Upstreamid"
      },
      "task_id": {
        "title": "Task Id",
        "type": "string"
      },
      "stem_count": {
        "title": "Stem Count",
        "type": "integer"
      },
      "stem_paths": {
        "items": {
          "type": "string"
        },
        "title": "Stem Paths",
        "type": "array"
      },
      "mixed_file_path": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Mixed File Path"
      },
      "waveform_data_path": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Waveform Data Path"
      },
      "waveform_detail_path": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Waveform Detail Path"
      },
      "audio_data_hash": {
        "anyOf": [
          {
            "type": "string"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Audio Data Hash"
      },
      "file_size": {
        "anyOf": [
          {
            "type": "integer"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "File Size"
      },
      "duration": {
        "anyOf": [
          {
            "type": "number"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Duration"
      },
      "sample_rate": {
        "anyOf": [
          {
            "type": "integer"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Sample Rate"
      },
      "channels": {
        "anyOf": [
          {
            "type": "integer"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Channels"
      },
      "peak": {
        "anyOf": [
          {
            "type": "number"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Peak"
      },
      "gain": {
        "anyOf": [
          {
            "type": "number"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Gain"
      },
      "loudness_lufs": {
        "anyOf": [
          {
            "type": "number"
          },
          {
            "type": "null"
          }
        ],
        "default": null,
        "title": "Loudness Lufs"
      },
      "insights": {
        "anyOf": [
          {
            "$ref": "#/$defs/AudioInsights"
          },
          {
            "type": "null"
          }
        ],
        "default": null
      },
      "processing_time": {
        "title": "Processing Time",
        "type": "number"
      },
      "timestamp": {
        "title": "Timestamp",
        "type": "string"
      },
      "result": {
        "anyOf": [
          {
            "$ref": "#/$defs/FailureResult"
          },
          {
            "type": "null"
          }
        ],
        "default": null
      }
    },
    "required": [
      "stageId",
      "status",
      "upstreamId",
      "task_id",
      "stem_count",
      "stem_paths",
      "processing_time",
      "timestamp"
    ],
    "title": "Webhook: POST {WEBHOOK_URL}/mixing-complete",
    "type": "object"
  }
};
