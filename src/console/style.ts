/** The console's one stylesheet, served at /console/style.css. */
export const CONSOLE_CSS = `
:root { --fg: #1d2330; --muted: #667085; --line: #e3e6ec; --accent: #2f6fdf; --ok: #1f9d55; --warn: #c77c02; --bad: #cf2e2e; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); }
body { margin: 0; background: #f6f7f9; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header nav a { color: #cdd6e4; margin-right: 1rem; text-decoration: none; }
header nav a:hover { color: #fff; }
.feed { margin-left: auto; font-size: 12px; color: #cdd6e4; }
.feed.down { color: #ffb4b4; }
main { padding: 1rem 1.2rem; max-width: 1200px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
a { color: var(--accent); }
table { border-collapse: collapse; background: #fff; width: 100%; border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 12px; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
.card .label { font-size: 12px; color: var(--muted); }
.card .value { font-size: 1.2rem; font-weight: 600; word-break: break-all; }
.bar { position: relative; width: 14rem; height: .9rem; background: #e8ebf0; border-radius: 3px; overflow: hidden; display: inline-block; vertical-align: middle; }
.bar > span { position: absolute; inset: 0 auto 0 0; background: var(--ok); }
.bar.high > span { background: var(--warn); }
.bar.full > span { background: var(--bad); }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.muted { color: var(--muted); }
.crumbs a, .crumbs span { margin-right: .3rem; }
.tabs button { border: 1px solid var(--line); background: #fff; padding: .3rem .8rem; cursor: pointer; }
.tabs button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
.viewer { background: #fff; border: 1px solid var(--line); padding: .6rem; margin-top: .4rem; overflow: auto; max-height: 32rem; }
.viewer pre { margin: 0; font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
.viewer img { max-width: 100%; image-rendering: pixelated; min-width: 128px; border: 1px dashed var(--line); }
.error { color: var(--bad); background: #fff0f0; border: 1px solid #f3c2c2; padding: .5rem .8rem; }
`;
