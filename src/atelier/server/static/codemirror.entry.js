// The CodeMirror 6 pieces the SQL page uses, bundled into one script (global `CodeMirror`).
export { EditorView, basicSetup } from "codemirror";
export { keymap, placeholder } from "@codemirror/view";
export { EditorState, Compartment, Prec } from "@codemirror/state";
export { sql, PostgreSQL, StandardSQL } from "@codemirror/lang-sql";
export { startCompletion, completionStatus, acceptCompletion } from "@codemirror/autocomplete";
