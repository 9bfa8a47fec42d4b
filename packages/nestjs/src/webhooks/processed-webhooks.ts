import { Injectable } from '@nestjs/common';

/**
 * Remembers which `webhook-id`s were applied. WaveFlow retries a webhook until it gets a 2xx, so the same id
 * can arrive more than once: apply it once, answer 2xx every time. Provide your own with
 * `WaveFlowModule.forRoot(options, { processedWebhooks: MyStore })`.
 */
export abstract class ProcessedWebhooks {
  /** True when `id` was not seen before (and is now recorded); false for a repeat. */
  abstract firstTime(id: string): Promise<boolean>;

  /** Called when applying `id` failed after `firstTime` recorded it, so that WaveFlow's retry is applied. */
  async forget(_id: string): Promise<void> {}
}

/**
 * For one process and for tests. In production back this with the table the webhook's effect is written to
 * (a unique index on the id, inserted in the same transaction), so that "applied" and "recorded" cannot diverge.
 */
@Injectable()
export class InMemoryProcessedWebhooks extends ProcessedWebhooks {
  private readonly seen = new Set<string>();

  async firstTime(id: string): Promise<boolean> {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    return true;
  }

  override async forget(id: string): Promise<void> {
    this.seen.delete(id);
  }
}
