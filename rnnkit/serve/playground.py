"""The playground: one static page (plain HTML and JavaScript, no build step) served at GET /.

It posts to /v1/poem with ``stream: true`` and appends each character as its server-sent event arrives.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rnnkit poem playground</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  label { display: block; margin: .6rem 0 .2rem; }
  input, select, button { font-size: 1rem; padding: .3rem; }
  #poem { font-size: 1.6rem; line-height: 2.4rem; min-height: 10rem; white-space: pre-wrap;
          border: 1px solid #ccc; padding: 1rem; margin-top: 1rem; }
  #status { color: #555; margin-top: .5rem; min-height: 1.2rem; }
  #status.error { color: #b00; }
</style>
</head>
<body>
<h1>Write a Tang poem</h1>
<form id="settings">
  <label for="form">Form</label>
  <select id="form">
    <option value="wujue">五言绝句 (4 lines of 5)</option>
    <option value="qijue" selected>七言绝句 (4 lines of 7)</option>
    <option value="wulv">五言律诗 (8 lines of 5)</option>
    <option value="qilv">七言律诗 (8 lines of 7)</option>
  </select>
  <label for="acrostic">Acrostic (藏头, one character per line, optional)</label>
  <input id="acrostic" placeholder="春夏秋冬">
  <label for="start">Opening characters (optional)</label>
  <input id="start" placeholder="白日">
  <label for="temperature">Temperature <span id="temperature-value">1.0</span></label>
  <input id="temperature" type="range" min="0.1" max="2" step="0.1" value="1.0">
  <label for="seed">Seed (optional)</label>
  <input id="seed" type="number" min="0">
  <p><button id="write" type="submit">Write</button></p>
</form>
<div id="poem" aria-live="polite"></div>
<div id="status"></div>
<script>
const $ = (id) => document.getElementById(id);
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });

function show(message, isError) {
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
}

function describe(detail) {
  if (Array.isArray(detail)) return detail.map((d) => (d.loc || []).slice(-1)[0] + ": " + d.msg).join("; ");
  return String(detail);
}

$("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { form: $("form").value, temperature: parseFloat($("temperature").value), stream: true };
  for (const name of ["acrostic", "start"]) if ($(name).value.trim()) body[name] = $(name).value.trim();
  if ($("seed").value !== "") body.seed = parseInt($("seed").value, 10);
  $("poem").textContent = "";
  $("write").disabled = true;
  show("writing…", false);
  try {
    const response = await fetch("/v1/poem", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) {
      const error = await response.json().catch(() => ({ detail: response.statusText }));
      show("error " + response.status + ": " + describe(error.detail), true);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {   // one server-sent event per blank line
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = (block.match(/^event: (.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
        if (kind === "token") {
          $("poem").textContent += data.text;
          if (data.text === "。") $("poem").textContent += "\\n";
        } else if (kind === "done") {
          show("done (seed " + data.seed + ")", false);
        } else if (kind === "error") {
          show("error " + data.status + ": " + data.detail, true);
        }
      }
    }
  } catch (error) {
    show("error: " + error, true);
  } finally {
    $("write").disabled = false;
  }
});
</script>
</body>
</html>
"""
