/** The version of yonder, printed by `yonder --version`. */
export const VERSION = "0.1.0";
