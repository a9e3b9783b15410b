/**
 * Resolving a path on a POSIX host the way a file operation there would use it: relative to the
 * working directory, `~` to the home, every symlink and `..` of the part that exists resolved
 * (`realpath`, else `readlink -f`), and the part that does not exist yet appended (a write may
 * create it). Used to check file operations against path roots on the host itself.
 *
 * @module
 */

import { normalizePosix } from "../util/path.ts";

/**
 * The script (`sh -c SCRIPT sh PATH`): prints the resolved path and a newline; exits 3 when the
 * existing part cannot be resolved (a dangling symlink, no permission) and 4 when the host has
 * neither `realpath` nor `readlink -f`.
 */
export const RESOLVE_PATH_SCRIPT: string = [
  'p=$1 rest=""',
  'case $p in "~") p=$HOME ;; "~/"*) p=$HOME/${p#"~/"} ;; /*) ;; *) p=$(pwd -P)/$p ;; esac',
  'while [ ! -e "$p" ] && [ ! -L "$p" ]; do',
  "  rest=/${p##*/}$rest p=${p%/*}",
  '  [ -n "$p" ] || p=/',
  "done",
  'if command -v realpath >/dev/null 2>&1; then r=$(realpath -- "$p") || exit 3',
  'else r=$(readlink -f -- "$p" 2>/dev/null) && [ -n "$r" ] || exit 4; fi',
  'printf "%s%s\\n" "$r" "$rest"',
].join("\n");

/**
 * Cleans `..` and `.` out of an absolute path lexically (for the part that did not exist, which
 * holds no symlink).
 *
 * @example
 * ```ts
 * import { normalizeAbsolute } from "./resolve_path.ts";
 * console.log(normalizeAbsolute("/srv/app/new/../x")); // "/srv/app/x"
 * ```
 */
export const normalizeAbsolute: (path: string) => string = normalizePosix;
