// The run table: pages of runs pulled from the kernel as Arrow IPC, sorted,
// filtered and paged by DuckDB on the Python side; more rows are appended as the user
// scrolls (fixed row heights, quak's model). Traits hold UI state only.
import {
  Channel, debounce, decodeRows, formatNumber, formatTime, h, injectStyle, Model, RenderProps, Row,
  watchStore,
} from "./_common";
import { DETAIL_CSS, DetailPane } from "./_detail";

/** Mirrors trackbook.widgets._protocol.SortKey */
interface SortKey { column: string; desc: boolean; }

/** Mirrors trackbook.widgets._protocol.ColumnInfo */
interface ColumnInfo { name: string; kind: "attribute" | "param" | "metric" | "tag"; differs: boolean; }

const ID_COL = "__run_id";
const NAME_COL = "attributes.run_name";
const ROW_HEIGHT = 25; // px, fixed: every row is one line (24 px cell + 1 px border)
const MAX_PAGE = 1000; // mirrors trackbook.widgets._table.MAX_PAGE_SIZE
// Fetch the next page when fewer than this many loaded rows are below the viewport.
const PREFETCH_ROWS = 20;
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
` + DETAIL_CSS;

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
  } else if (col === NAME_COL) {
    td.append(h("span", { class: "tb-run-link", text: String(value), title: "show this run's details" }));
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
  let total = 0;
  let rows: Row[] = []; // every row loaded so far, in order
  let shown: string[] = [];
  let columnInfo: ColumnInfo[] = [];
  let columnsFresh = false; // columnInfo is for the current filter and store
  let autoColumns: string[] = []; // what Python picked when asked for no columns
  let disposed = false;
  let generation = 0; // bumped when the rows are reloaded from the top: stale appends drop
  let appending = false;
  let reloading = false; // an append would supersede the reload's request: wait for it
  let busy = 0; // page requests in flight

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
  const loadedLabel = h("span", { class: "tb-loaded tb-muted" });
  const toolbar = h("div", { class: "tb-toolbar" }, filterInput, columnsBtn, differLabel, count, loadedLabel);
  const errorBox = h("div", { class: "tb-error" });
  const picker = h("div", { class: "tb-picker" });
  const table = h("table", { class: "tb-runs-table" });
  let tbody = h("tbody");
  const scroll = h("div", { class: "tb-scroll" }, table);
  const detail = new DetailPane(channel, () => {
    model.set("detail", "");
    model.save_changes();
  });
  root.append(toolbar, errorBox, picker, h("div", { class: "tb-body" }, scroll, detail.el));
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

  /** One page request; null when a newer page request superseded it. */
  async function requestRows(offset: number, limit: number) {
    const columns = visibleColumns();
    busy += 1;
    root.dataset.busy = "1"; // for tests and benchmarks: a page request is in flight
    let reply;
    try {
      reply = await channel.request("page", {
        offset, limit, sort: model.get("sort"), filter: model.get("filter"), columns,
      });
    } finally {
      busy -= 1;
      if (!busy) delete root.dataset.busy;
    }
    if (reply === null || disposed) return null;
    const [msg, buffers] = reply;
    if (!msg.ok) {
      setError(msg.error ?? "error");
      return null;
    }
    setError("");
    root.dataset.kernelMs = String(msg.ms); // the kernel's time on the last page (benchmarks)
    total = msg.total as number;
    const decoded = decodeRows(buffers[0]);
    return { rows: decoded.rows, columns: decoded.columns.filter((c) => c !== ID_COL), asked: columns };
  }

  /**
   * Load rows from the top again: the first page after a sort or filter change (scrolled
   * to the top), or as many rows as are loaded now (live refresh, column change).
   */
  async function reload(keepLoaded = false): Promise<void> {
    const gen = ++generation;
    appending = false;
    reloading = true;
    try {
      await reloadRows(gen, keepLoaded);
    } finally {
      if (gen === generation) reloading = false;
    }
    if (gen === generation) fillViewport();
  }

  async function reloadRows(gen: number, keepLoaded: boolean): Promise<void> {
    const pageSize = model.get("page_size") as number;
    const want = keepLoaded ? Math.max(rows.length, pageSize) : pageSize;
    const got = await requestRows(0, Math.min(want, MAX_PAGE));
    if (got === null || gen !== generation) return;
    let next = got.rows;
    while (next.length < want && next.length < total) { // live refresh of > 1000 rows
      const more = await requestRows(next.length, Math.min(want - next.length, MAX_PAGE));
      if (more === null || gen !== generation) return;
      if (!more.rows.length) break;
      next = next.concat(more.rows);
    }
    const wasShown = shown.join();
    shown = got.columns;
    if (!got.asked.length) {
      autoColumns = [...shown];
      // only-differing needs the automatic set first; ask again now that it is known
      if (model.get("only_differing") && autoColumns.length && visibleColumns().length) {
        return reloadRows(gen, keepLoaded);
      }
    }
    if (shown.join() !== wasShown) drawPicker();
    rows = next;
    const top = scroll.scrollTop;
    drawTable();
    scroll.scrollTop = keepLoaded ? top : 0;
  }

  /** Append the next page (scrolling down). */
  async function appendPage(): Promise<void> {
    if (appending || reloading || rows.length >= total) return;
    appending = true;
    const gen = generation;
    const got = await requestRows(rows.length, model.get("page_size") as number);
    if (gen !== generation) return; // reloaded meanwhile: `appending` was reset there
    appending = false;
    if (got === null || !got.rows.length) return;
    const selected = new Set<string>(model.get("selected") ?? []);
    rows = rows.concat(got.rows);
    for (const row of got.rows) tbody.append(rowElement(row, selected));
    drawStatus();
    fillViewport();
  }

  /**
   * Every column available under the filter, for the picker and "only columns that differ".
   * Asked for only while one of them is in use: on a large store the list costs more than a
   * page, and the kernel answers in order, so a first sort would wait behind it.
   */
  const columnsNeeded = () => picker.classList.contains("tb-open") || !!model.get("only_differing");
  async function loadColumns(): Promise<void> {
    columnsFresh = false;
    if (!columnsNeeded()) return;
    const reply = await channel.request("columns", { filter: model.get("filter") });
    if (reply === null || disposed) return;
    const [msg] = reply;
    if (!msg.ok) return; // the page request reports the same error
    columnInfo = msg.columns as ColumnInfo[];
    columnsFresh = true;
    drawPicker();
    if (model.get("only_differing")) void reload(true);
  }

  /** Keep loading while the loaded rows do not reach PREFETCH_ROWS below the viewport. */
  function fillViewport(): void {
    if (disposed || rows.length >= total || !scroll.isConnected) return;
    const below = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight;
    if (below < PREFETCH_ROWS * ROW_HEIGHT) void appendPage();
  }

  function rowElement(row: Row, selected: Set<string>): HTMLTableRowElement {
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
    if (id === detail.current) tr.classList.add("tb-detail-open");
    return tr;
  }

  function drawStatus(): void {
    const nSel = (model.get("selected") ?? []).length;
    count.textContent = `${total.toLocaleString()} run${total === 1 ? "" : "s"}${nSel ? ` · ${nSel} selected` : ""}`;
    loadedLabel.textContent = rows.length < total ? `${rows.length.toLocaleString()} loaded, scroll for more` : "";
  }

  function drawTable(): void {
    const sort: SortKey[] = model.get("sort") ?? [];
    const selected = new Set<string>(model.get("selected") ?? []);
    const head = h("tr");
    const loadedIds = rows.map((r) => String(r[ID_COL]));
    const allBox = h("input", { type: "checkbox", class: "tb-check-all", title: "select the loaded rows" });
    allBox.checked = loadedIds.length > 0 && loadedIds.every((id) => selected.has(id));
    allBox.addEventListener("change", () => {
      const next = new Set<string>(model.get("selected") ?? []);
      for (const r of rows) (allBox.checked ? next.add(String(r[ID_COL])) : next.delete(String(r[ID_COL])));
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
    tbody = h("tbody");
    for (const row of rows) tbody.append(rowElement(row, selected));
    table.replaceChildren(h("thead", {}, head), tbody);
    if (rows.length === 0) {
      table.append(h("tbody", {}, h("tr", {}, h("td", {
        class: "tb-empty tb-muted", colspan: String(shown.length + 1), text: "No runs match.",
      }))));
    }
    drawStatus();
    root.dataset.drawn = String(Number(root.dataset.drawn ?? 0) + 1); // tests, benchmarks
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
    model.set("selected", ids); // onSelected redraws
    model.save_changes();
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
    model.set("sort", next); // onSort reloads (Backbone fires change events on local sets)
    model.save_changes();
  }

  const applyFilter = () => {
    if (filterInput.value === model.get("filter")) return;
    model.set("filter", filterInput.value); // onFilter reloads
    model.save_changes();
  };
  const applyFilterSoon = debounce(applyFilter, 400);
  filterInput.addEventListener("input", applyFilterSoon);
  filterInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      applyFilterSoon.cancel();
      applyFilter();
    }
  });
  columnsBtn.addEventListener("click", () => {
    if (!picker.classList.toggle("tb-open") || columnsFresh) return;
    if (!columnInfo.length) picker.replaceChildren(h("span", { class: "tb-muted", text: "loading columns…" }));
    void loadColumns();
  });
  differBox.checked = !!model.get("only_differing");
  differBox.addEventListener("change", () => {
    model.set("only_differing", differBox.checked); // onDiffer reloads
    model.save_changes();
  });
  scroll.addEventListener("scroll", fillViewport, { passive: true });
  table.addEventListener("click", (ev) => {
    const link = (ev.target as HTMLElement).closest(".tb-run-link");
    const tr = link?.closest("tr");
    if (!link || !tr) return;
    model.set("detail", tr.getAttribute("data-run-id") ?? ""); // onDetail opens the pane
    model.save_changes();
  });

  function openDetail(id: string): void {
    for (const tr of tbody.querySelectorAll("tr.tb-detail-open")) tr.classList.remove("tb-detail-open");
    if (id) tbody.querySelector(`tr[data-run-id="${window.CSS.escape(id)}"]`)?.classList.add("tb-detail-open");
    void detail.show(id);
  }

  // Python-side changes (e.g. `table.filter = "..."` in a cell) re-query.
  const onFilter = () => {
    filterInput.value = model.get("filter") ?? "";
    void reload(); // the page request goes first: rows before picker entries
    void loadColumns();
  };
  const onSort = () => void reload();
  const onPageSize = () => void reload(true);
  const onColumns = () => {
    drawPicker();
    void reload(true);
  };
  const onSelected = () => drawTable();
  const onDiffer = () => {
    differBox.checked = !!model.get("only_differing");
    if (model.get("only_differing") && !columnsFresh) void loadColumns(); // then reloads
    else void reload(true);
  };
  const onDetail = () => {
    const id = (model.get("detail") as string) ?? "";
    if (id !== detail.current) openDetail(id);
  };
  model.on("change:filter", onFilter);
  model.on("change:sort", onSort);
  model.on("change:page_size", onPageSize);
  model.on("change:columns", onColumns);
  model.on("change:selected", onSelected);
  model.on("change:only_differing", onDiffer);
  model.on("change:detail", onDetail);

  // Live: ask the kernel whether the store changed; reload when it did.
  const watch = watchStore(model, channel, async () => {
    const rowsDone = reload(true);
    await loadColumns();
    await rowsDone;
    detail.refresh();
  });

  // First rows first; the column list only if "only columns that differ" is already on.
  const firstRows = reload();
  void loadColumns();
  void firstRows.then(() => watch.start());
  if (model.get("detail")) openDetail(model.get("detail"));

  return () => {
    disposed = true;
    watch.stop();
    applyFilterSoon.cancel();
    channel.close();
    detail.dispose();
    model.off("change:filter", onFilter);
    model.off("change:sort", onSort);
    model.off("change:page_size", onPageSize);
    model.off("change:columns", onColumns);
    model.off("change:selected", onSelected);
    model.off("change:only_differing", onDiffer);
    model.off("change:detail", onDetail);
  };
}

export default { render };
export type { Model };
