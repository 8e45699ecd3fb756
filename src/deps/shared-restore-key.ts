// The key a project's restore record is filed under in a cache (shared-restore.ts): the key of
// the project's shared Mix answers (mix-answers.ts sharedKey: mix.exs, config/config.exs,
// MIX_ENV, the MIX_*/HEX_* variables, the Elixir and OTP versions, beamix's helpers) and the
// hash of mix.lock. Apart, so that looking a record up loads nothing of restoring one.
import { sha256Hex } from "../util/sha256.ts";

export function sharedRestoreKey(answersKey: string, lock: Buffer): string {
  return sha256Hex(JSON.stringify({ format: "beamix-shared-deps-restore/1", answers: answersKey, lock: sha256Hex(lock) }));
}
