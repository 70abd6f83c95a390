// Tokenize .mpc files with vscode-textmate (the tokenizer of VS Code): node vscode_textmate.js
// MODULES_DIR GRAMMAR FILE... prints {file: [[ [start, end, scopes], ... ] per line]} as JSON.
const fs = require('fs');
const path = require('path');
const modules = process.argv[2];
const vsctm = require(path.join(modules, 'node_modules/vscode-textmate'));
const oniguruma = require(path.join(modules, 'node_modules/vscode-oniguruma'));
const wasmBin = fs.readFileSync(path.join(modules, 'node_modules/vscode-oniguruma/release/onig.wasm')).buffer;
const onigLib = oniguruma.loadWASM(wasmBin).then(() => ({
  createOnigScanner(p) { return new oniguruma.OnigScanner(p); },
  createOnigString(s) { return new oniguruma.OnigString(s); }
}));
const grammarPath = process.argv[3];
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async (scopeName) => vsctm.parseRawGrammar(fs.readFileSync(grammarPath).toString(), grammarPath)
});
registry.loadGrammar('source.veil').then(grammar => {
  const out = {};
  for (const file of process.argv.slice(4)) {
    const text = fs.readFileSync(file).toString();
    let rule = vsctm.INITIAL;
    const lines = [];
    for (const line of text.split('\n')) {
      const r = grammar.tokenizeLine(line, rule);
      lines.push(r.tokens.map(t => [t.startIndex, Math.min(t.endIndex, line.length), t.scopes]));
      rule = r.ruleStack;
    }
    out[file] = lines;
  }
  console.log(JSON.stringify(out));
});
