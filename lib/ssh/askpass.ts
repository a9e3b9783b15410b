/**
 * Letting ssh ask a human: for a master started with `askPassTty`, ssh gets `SSH_ASKPASS` (a small
 * sh helper written next to the master's log, removed once the master is up or gone) with
 * `SSH_ASKPASS_REQUIRE=force`. The master runs detached from yonder's terminal, so the helper
 * opens the terminal device by its path: it prints ssh's prompt there and reads the answer without
 * echo (a yes/no confirmation with echo), and hands it to ssh on stdout. The answer never touches
 * a file, an argument or the environment.
 *
 * @module
 */

/** The helper: `$YONDER_TTY` is the terminal; ssh passes the prompt as `$1`. */
const HELPER = `#!/bin/sh
t=\${YONDER_TTY:?}
exec 3<>"$t" || exit 1
k=\${SSH_ASKPASS_PROMPT:-}
# ssh leaves SSH_ASKPASS_PROMPT unset for a host key question: show that yes/no answer as typed.
case "$1" in *'(yes/no'*) k=confirm ;; esac
case $k in
  none) printf '%s\\n' "$1" >&3; exit 0 ;;
  confirm) printf '%s ' "$1" >&3; IFS= read -r a <&3 || exit 1 ;;
  *)
    printf '%s ' "$1" >&3
    s=$(stty -g <&3 2>/dev/null)
    stty -echo <&3 2>/dev/null
    IFS= read -r a <&3; r=$?
    [ -n "$s" ] && stty "$s" <&3 2>/dev/null
    printf '\\n' >&3
    [ $r -eq 0 ] || exit 1 ;;
esac
printf '%s\\n' "$a"
`;

/** Seconds a human may take to answer, added to the connect timeout while a master may ask. */
export const ASK_SECONDS = 300;

/**
 * Writes the helper next to `logFile` and returns the environment for ssh and a function that
 * removes the helper (call it once the master is up or gone).
 *
 * @example
 * ```ts
 * import { prepareAskPass } from "./askpass.ts";
 * const log = await Deno.makeTempFile();
 * const ask = await prepareAskPass(log, "/dev/pts/0");
 * console.log(ask.env.SSH_ASKPASS_REQUIRE); // "force"
 * await ask.remove();
 * ```
 */
export async function prepareAskPass(
  logFile: string,
  tty: string,
): Promise<{ env: Record<string, string>; remove: () => Promise<void> }> {
  const path = `${logFile}.askpass`;
  await Deno.writeTextFile(path, HELPER, { mode: 0o700 });
  await Deno.chmod(path, 0o700);
  return {
    env: { SSH_ASKPASS: path, SSH_ASKPASS_REQUIRE: "force", YONDER_TTY: tty },
    remove: () => Deno.remove(path).catch(() => {}),
  };
}
