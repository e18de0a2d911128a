// Undo steps collected while something starts in phases: each phase registers
// how to undo itself once it has succeeded; if a later phase fails, run()
// undoes them in reverse order. Every step runs even if an earlier one throws
// (the start's own error is the one worth reporting, so theirs are dropped).

export type UndoStep = (reason: unknown) => void | Promise<void>;

export class Rollback {
  private readonly steps: UndoStep[] = [];

  add(undo: UndoStep): void {
    this.steps.push(undo);
  }

  /** Undoes every registered step, last first; `reason` is the failure that caused it. */
  async run(reason: unknown): Promise<void> {
    for (const undo of this.steps.splice(0).reverse()) {
      try {
        await undo(reason);
      } catch {
        // see above
      }
    }
  }
}
