// The admin's pages, made whole for keyboard and screen-reader users (loaded by
// templates/admin/base_site.html on every admin page). The Content-Security-Policy allows no inline
// script nor inline event handler, so what the admin's templates would do inline is done here.
"use strict";
{
  // An autocomplete (select2) widget's combobox is named by its field's label, then by its value:
  // "Patient: G005 Sita 5". select2 names it by its value alone, which is empty until one is chosen.
  const nameAutocompletes = (root) => {
    for (const select of root.querySelectorAll("select.admin-autocomplete.select2-hidden-accessible")) {
      const container = select.nextElementSibling;
      if (!container || !container.classList.contains("select2-container")) continue;
      const label = select.id && document.querySelector(`label[for="${CSS.escape(select.id)}"]`);
      if (!label) continue;
      label.id = label.id || `${select.id}_label`;
      const rendered = container.querySelector(".select2-selection__rendered");
      const combobox = container.querySelector(".select2-selection[role=combobox]");
      if (rendered) {
        rendered.setAttribute("aria-labelledby", label.id);
      }
      if (combobox) {
        combobox.setAttribute("aria-labelledby", rendered && rendered.id ? `${label.id} ${rendered.id}` : label.id);
      }
    }
  };

  // The filter boxes of a two-list picker (filter_horizontal): SelectFilter2.js names them by an
  // aria-label on a <span>, which ARIA does not allow on an element without a role; as an image
  // (the search icon it is) the same words are its alternative text, and so the label's.
  const nameFilterIcons = (root) => {
    for (const icon of root.querySelectorAll(".selector .search-label-icon[aria-label]:not([role])")) {
      icon.setAttribute("role", "img");
    }
  };

  const mend = (root) => {
    nameAutocompletes(root);
    nameFilterIcons(root);
  };

  // The widgets are drawn by other scripts (on jQuery's ready, on window's load, and for each row
  // an inline adds): a watch on the page mends whatever they add, when they add it.
  // Many changes come at once (a select2 dropdown opening): mend once per frame, not per change.
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; mend(document); });
  }).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", () => mend(document));

  // django-import-export's export page: "Select all" ticks or clears every field's box (its template
  // did this with an inline onchange, templates/admin/import_export/export.html), and follows them.
  const fieldBoxes = () => document.querySelectorAll('.selectable-field-export-row input[type="checkbox"]');
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.matches(".select-toggle")) {
      for (const field of fieldBoxes()) field.checked = box.checked;
    } else if (box.matches('.selectable-field-export-row input[type="checkbox"]')) {
      const toggle = document.querySelector(".select-toggle");
      if (toggle) toggle.checked = [...fieldBoxes()].every((field) => field.checked);
    }
  });
}
