// A clock tests move by hand, for code that takes a ScheduleClock: timers fire in order as `advance` passes them,
// so a test of cron slots runs in milliseconds and never depends on how busy the machine is.
import type { ScheduleClock } from "../server/profiles/schedules.js";

export interface FakeClock extends ScheduleClock {
  /** Moves the time forward by `ms`, firing every timer due on the way (in time order), letting each settle. */
  advance(ms: number): Promise<void>;
  /** How many timers wait. */
  pending(): number;
}

export function fakeClock(start: Date): FakeClock {
  let now = start.getTime();
  let seq = 0;
  const timers = new Map<number, { when: number; fire: () => void }>();
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return {
    now: () => new Date(now),
    at(when, fire) {
      const id = seq++;
      timers.set(id, { when: when.getTime(), fire });
      return () => timers.delete(id);
    },
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        await settle(); // what earlier timers (or the test) set going finishes first
        const due = [...timers.entries()]
          .filter(([, t]) => t.when <= until)
          .sort(([a, x], [b, y]) => x.when - y.when || a - b)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].when);
        due[1].fire();
      }
      now = until;
      await settle();
    },
    pending: () => timers.size,
  };
}
