// The run table: pages of runs pulled from the kernel as Arrow IPC, sorted,
// filtered and paged by DuckDB on the Python side. Traits hold UI state only.
import {
  Channel, debounce, decodeRows, formatNumber, formatTime, h, injectStyle, Model, RenderProps, Row,
} from "./_common";

/** Mirrors trackbook.widgets._protocol.SortKey */
interface SortKey { column: string; desc: boolean; }

/** Mirrors trackbook.widgets._protocol.ColumnInfo */
interface ColumnInfo { name: string; kind: "attribute" | "param" | "metric" | "tag"; differs: boolean; }

const ID_COL = "__run_id";
const KIND_LABEL: Record<string, string> = { attribute: "Attributes", param: "Params", metric: "Metrics", tag: "Tags" };

const CSS = `
.tb-runs { max-width: 100%; }
.tb-runs .tb-filter { flex: 1 1 280px; min-width: 200px; font-family: var(--jp-code-font-family, monospace); }
.tb-runs .tb-count { margin-left: auto; }
.tb-runs .tb-scroll { max-height: 460px; overflow: auto; border: 1px solid var(--jp-border-color2, #ddd); }
.tb-runs table { border-collapse: collapse; width: max-content; min-width: 100%; }
.tb-runs th, .tb-runs td {
  height: 24px; padding: 0 8px; white-space: nowrap; max-width: 260px; overflow: hidden;
  text-overflow: ellipsis; border-bottom: 1px solid var(--jp-border-color2, #e5e5e5); text-align: left;
}
.tb-runs th {
  position: sticky; top: 0; z-index: 1; cursor: pointer; user-select: none; font-weight: 600;
  background: var(--jp-layout-color2, #f3f3f3);
}
.tb-runs th .tb-kind { color: var(--jp-ui-font-color3, #999); font-weight: 400; margin-right: 3px; font-size: 10px; }
.tb-runs th .tb-sort { color: var(--jp-brand-color1, #1976d2); margin-left: 3px; font-size: 10px; }
.tb-runs td.tb-num { text-align: right; font-variant-numeric: tabular-nums; }
.tb-runs th.tb-check, .tb-runs td.tb-check { width: 22px; padding: 0 4px; cursor: default; }
.tb-runs tbody tr:hover { background: var(--jp-layout-color2, #f5f5f5); }
.tb-runs tbody tr.tb-selected { background: var(--jp-brand-color3, #bbdefb); color: var(--jp-ui-font-color0, #000); }
.tb-runs .tb-badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px; line-height: 16px;
  color: #fff; background: var(--jp-ui-font-color2, #777); }
.tb-runs .tb-badge.RUNNING { background: var(--jp-brand-color1, #1976d2); }
.tb-runs .tb-badge.FINISHED { background: var(--jp-success-color1, #388e3c); }
.tb-runs .tb-badge.FAILED { background: var(--jp-error-color1, #d32f2f); }
.tb-runs .tb-badge.KILLED { background: var(--jp-warn-color1, #f57c00); }
.tb-runs .tb-picker { display: none; border: 1px solid var(--jp-border-color2, #ddd); padding: 6px; margin-bottom: 4px;
  max-height: 220px; overflow: auto; background: var(--jp-layout-color1, #fff); }
.tb-runs .tb-picker.tb-open { display: block; }
.tb-runs .tb-picker fieldset { border: none; margin: 0 0 4px; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 12px; }
.tb-runs .tb-picker legend { font-weight: 600; padding: 0; margin-bottom: 2px; }
.tb-runs .tb-picker label { white-space: nowrap; }
.tb-runs .tb-empty { padding: 8px; }
`;

function kindOf(name: string): string {
  return name.slice(0, name.indexOf("."));
}

function keyOf(name: string): string {
  return name.slice(name.indexOf(".") + 1);
}

function renderCell(col: string, value: unknown): HTMLTableCellElement {
  const td = h("td");
  if (value === null || value === undefined) return td;
  const kind = kindOf(col);
  if (col === "attributes.status") {
    td.append(h("span", { class: `tb-badge ${String(value)}`, text: String(value) }));
  } else if (col === "attributes.start_time" || col === "attributes.end_time") {
    td.textContent = formatTime(value);
    td.title = new Date(Number(value)).toISOString();
  } else if (col === "attributes.run_id") {
    td.textContent = String(value).slice(0, 8);
    td.title = String(value);
  } else if (kind === "metrics") {
    td.className = "tb-num";
    td.textContent = formatNumber(value);
    td.title = String(value);
  } else {
    td.textContent = String(value);
    td.title = String(value);
  }
  return td;
}

function render({ model, el }: RenderProps): () => void {
  const channel = new Channel(model);
  let offset = 0;
  let total = 0;
  let rows: Row[] = [];
  let shown: string[] = [];
  let columnInfo: ColumnInfo[] = [];
  let autoColumns: string[] = []; // what Python picked when asked for no columns
  let version: string | null = null;
  let disposed = false;

  const root = h("div", { class: "tb-widget tb-runs" });
  injectStyle(root, CSS);
  const filterInput = h("input", {
    class: "tb-filter", type: "text", spellcheck: "false",
    placeholder: "Filter: metrics.acc > 0.9 AND params.model = 'rf'",
  });
  filterInput.value = model.get("filter") ?? "";
  const columnsBtn = h("button", { class: "tb-columns-btn", text: "Columns ▾" });
  const differBox = h("input", { type: "checkbox", class: "tb-differ" });
  const differLabel = h("label", { class: "tb-differ-label" }, differBox, " only columns that differ");
  const count = h("span", { class: "tb-count tb-muted" });
  const prevBtn = h("button", { class: "tb-prev", text: "‹", title: "previous page" });
  const nextBtn = h("button", { class: "tb-next", text: "›", title: "next page" });
  const pageLabel = h("span", { class: "tb-page tb-muted" });
  const toolbar = h("div", { class: "tb-toolbar" }, filterInput, columnsBtn, differLabel, count, prevBtn, pageLabel, nextBtn);
  const errorBox = h("div", { class: "tb-error" });
  const picker = h("div", { class: "tb-picker" });
  const table = h("table", { class: "tb-runs-table" });
  const scroll = h("div", { class: "tb-scroll" }, table);
  root.append(toolbar, errorBox, picker, scroll);
  el.append(root);

  const setError = (message: string) => {
    errorBox.textContent = message;
    if (model.get("error") !== message) {
      model.set("error", message);
      model.save_changes();
    }
  };

  /** Columns to request: [] asks Python for its automatic set. */
  const visibleColumns = (): string[] => {
    const explicit: string[] = model.get("columns") ?? [];
    const base = explicit.length ? explicit : autoColumns;
    if (!model.get("only_differing") || !base.length) return explicit;
    const differs = new Map(columnInfo.map((c) => [c.name, c.differs]));
    // Attributes such as name and status stay: they identify the row.
    return base.filter((c) => kindOf(c) === "attributes" || differs.get(c) !== false);
  };

  async function loadPage(): Promise<void> {
    const limit = model.get("page_size") as number;
    const columns = visibleColumns();
    const reply = await channel.request("page", {
      offset, limit, sort: model.get("sort"), filter: model.get("filter"), columns,
    });
    if (reply === null || disposed) return;
    const [msg, buffers] = reply;
    if (!msg.ok) {
      setError(msg.error ?? "error");
      return;
    }
    setError("");
    total = msg.total as number;
    const decoded = decodeRows(buffers[0]);
    rows = decoded.rows;
    const wasShown = shown.join();
    shown = decoded.columns.filter((c) => c !== ID_COL);
    if (!columns.length) {
      autoColumns = [...shown];
      // only-differing needs the automatic set first; ask again now that it is known
      if (model.get("only_differing") && autoColumns.length) return loadPage();
    }
    if (shown.join() !== wasShown) drawPicker();
    if (offset > 0 && offset >= total) {
      offset = Math.max(0, Math.floor((total - 1) / limit) * limit);
      return loadPage();
    }
    drawTable();
  }

  async function loadColumns(): Promise<void> {
    const reply = await channel.request("columns", { filter: model.get("filter") });
    if (reply === null || disposed) return;
    const [msg] = reply;
    if (!msg.ok) return; // the page request reports the same error
    columnInfo = msg.columns as ColumnInfo[];
    drawPicker();
    if (model.get("only_differing")) void loadPage();
  }

  function drawTable(): void {
    const sort: SortKey[] = model.get("sort") ?? [];
    const selected = new Set<string>(model.get("selected") ?? []);
    const head = h("tr");
    const pageIds = rows.map((r) => String(r[ID_COL]));
    const allBox = h("input", { type: "checkbox", class: "tb-check-all", title: "select this page" });
    allBox.checked = pageIds.length > 0 && pageIds.every((id) => selected.has(id));
    allBox.addEventListener("change", () => {
      const next = new Set<string>(model.get("selected") ?? []);
      for (const id of pageIds) (allBox.checked ? next.add(id) : next.delete(id));
      setSelected([...next]);
    });
    head.append(h("th", { class: "tb-check" }, allBox));
    for (const col of shown) {
      const idx = sort.findIndex((s) => s.column === col);
      const th = h("th", { "data-col": col, title: `${col}\nclick: sort, shift-click: add a sort key` },
        h("span", { class: "tb-kind", text: kindOf(col).slice(0, 1) }), keyOf(col));
      if (idx >= 0) {
        const arrow = sort[idx].desc ? "▼" : "▲";
        th.append(h("span", { class: "tb-sort", text: sort.length > 1 ? `${arrow}${idx + 1}` : arrow }));
        th.setAttribute("aria-sort", sort[idx].desc ? "descending" : "ascending");
      }
      th.addEventListener("click", (ev) => onHeaderClick(col, ev.shiftKey));
      head.append(th);
    }
    const body = h("tbody");
    for (const row of rows) {
      const id = String(row[ID_COL]);
      const tr = h("tr", { "data-run-id": id });
      const box = h("input", { type: "checkbox", class: "tb-row-check" });
      box.checked = selected.has(id);
      if (box.checked) tr.classList.add("tb-selected");
      box.addEventListener("change", () => {
        const next = new Set<string>(model.get("selected") ?? []);
        box.checked ? next.add(id) : next.delete(id);
        setSelected([...next]);
      });
      tr.append(h("td", { class: "tb-check" }, box));
      for (const col of shown) tr.append(renderCell(col, row[col]));
      body.append(tr);
    }
    table.replaceChildren(h("thead", {}, head), body);
    if (rows.length === 0) {
      table.append(h("tbody", {}, h("tr", {}, h("td", {
        class: "tb-empty tb-muted", colspan: String(shown.length + 1), text: "No runs match.",
      }))));
    }
    const limit = model.get("page_size") as number;
    pageLabel.textContent = total ? `${offset + 1}–${Math.min(offset + limit, total)} of ${total.toLocaleString()}` : "0 of 0";
    prevBtn.disabled = offset === 0;
    nextBtn.disabled = offset + limit >= total;
    const nSel = selected.size;
    count.textContent = `${total.toLocaleString()} run${total === 1 ? "" : "s"}${nSel ? ` · ${nSel} selected` : ""}`;
  }

  /** The explicit column list, or (automatic mode) the columns the last page showed. */
  const currentColumns = (): string[] => {
    const explicit: string[] = model.get("columns") ?? [];
    return explicit.length ? [...explicit] : [...autoColumns];
  };

  function drawPicker(): void {
    const visible = new Set<string>(currentColumns());
    const groups = new Map<string, ColumnInfo[]>();
    for (const c of columnInfo) {
      if (!groups.has(c.kind)) groups.set(c.kind, []);
      groups.get(c.kind)!.push(c);
    }
    const sets: HTMLElement[] = [];
    for (const kind of ["attribute", "param", "metric", "tag"]) {
      const items = groups.get(kind);
      if (!items?.length) continue;
      const fs = h("fieldset", {}, h("legend", { text: KIND_LABEL[kind] }));
      for (const c of items) {
        const box = h("input", { type: "checkbox", "data-col": c.name });
        box.checked = visible.has(c.name);
        box.addEventListener("change", () => {
          const current = currentColumns();
          const next = box.checked ? [...current, c.name] : current.filter((x) => x !== c.name);
          model.set("columns", next);
          model.save_changes();
        });
        const label = h("label", { title: c.differs ? "" : "same value in every run" }, box, ` ${keyOf(c.name)}`);
        if (!c.differs) label.classList.add("tb-muted");
        fs.append(label);
      }
      sets.push(fs);
    }
    picker.replaceChildren(...sets);
  }

  function setSelected(ids: string[]): void {
    model.set("selected", ids);
    model.save_changes();
    drawTable();
  }

  function onHeaderClick(col: string, additive: boolean): void {
    const sort: SortKey[] = [...(model.get("sort") ?? [])];
    const idx = sort.findIndex((s) => s.column === col);
    let next: SortKey[];
    if (additive) {
      next = idx >= 0 ? sort.map((s, i) => (i === idx ? { column: col, desc: !s.desc } : s)) : [...sort, { column: col, desc: false }];
    } else if (idx >= 0 && sort.length === 1) {
      next = [{ column: col, desc: !sort[0].desc }];
    } else {
      next = [{ column: col, desc: false }];
    }
    offset = 0;
    model.set("sort", next);
    model.save_changes();
    void loadPage();
  }

  const applyFilter = () => {
    if (filterInput.value === model.get("filter")) return;
    model.set("filter", filterInput.value);
    model.save_changes();
    offset = 0;
    void loadColumns();
    void loadPage();
  };
  const applyFilterSoon = debounce(applyFilter, 400);
  filterInput.addEventListener("input", applyFilterSoon);
  filterInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      applyFilterSoon.cancel();
      applyFilter();
    }
  });
  columnsBtn.addEventListener("click", () => picker.classList.toggle("tb-open"));
  differBox.checked = !!model.get("only_differing");
  differBox.addEventListener("change", () => {
    model.set("only_differing", differBox.checked);
    model.save_changes();
    void loadPage();
  });
  prevBtn.addEventListener("click", () => {
    offset = Math.max(0, offset - (model.get("page_size") as number));
    void loadPage();
  });
  nextBtn.addEventListener("click", () => {
    offset += model.get("page_size") as number;
    void loadPage();
  });

  // Python-side changes (e.g. `table.filter = "..."` in a cell) re-query.
  const onFilter = () => {
    filterInput.value = model.get("filter") ?? "";
    offset = 0;
    void loadColumns();
    void loadPage();
  };
  const onReload = () => void loadPage();
  const onColumns = () => {
    drawPicker();
    void loadPage();
  };
  const onSelected = () => drawTable();
  const onDiffer = () => {
    differBox.checked = !!model.get("only_differing");
    void loadPage();
  };
  model.on("change:filter", onFilter);
  model.on("change:sort", onReload);
  model.on("change:page_size", onReload);
  model.on("change:columns", onColumns);
  model.on("change:selected", onSelected);
  model.on("change:only_differing", onDiffer);

  // Live: ask the kernel whether the store changed; reload when it did.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    const seconds = model.get("refresh_seconds") as number;
    if (disposed || !seconds) return;
    const reply = await channel.request("version");
    if (reply && !disposed && reply[0].ok) {
      const v = reply[0].version as string;
      if (version !== null && v !== version) {
        await loadColumns();
        await loadPage();
      }
      version = v;
    }
    if (!disposed) timer = setTimeout(poll, seconds * 1000);
  };

  void loadColumns();
  void loadPage().then(() => {
    if (!disposed) timer = setTimeout(poll, 0);
  });

  return () => {
    disposed = true;
    if (timer !== undefined) clearTimeout(timer);
    applyFilterSoon.cancel();
    channel.close();
    model.off("change:filter", onFilter);
    model.off("change:sort", onReload);
    model.off("change:page_size", onReload);
    model.off("change:columns", onColumns);
    model.off("change:selected", onSelected);
    model.off("change:only_differing", onDiffer);
  };
}

export default { render };
export type { Model };
