/* Query builder: the few things htmx does not do. The state lives on the server; this only
   - numbers every request (_seq) so the server never stores an older state over a newer one,
   - filters the column checklists and checks/clears them in bulk; ticking an output table picks its columns,
   - reports server errors (5xx, network) in the place that was being updated,
   - keeps one export form open at a time. */
(function () {
  "use strict";

  var lastSeq = 0;

  /* A request replaced by a newer one (hx-sync "replace") is aborted on purpose: htmx reports that as an error in
     the console, which is noise outside development (<html data-debug="1">). */
  if (document.documentElement.getAttribute("data-debug") !== "1" && window.console) {
    var consoleError = window.console.error;
    window.console.error = function (first) {
      if (typeof first === "string" && first.indexOf("htmx:sendAbort") === 0) {
        return;
      }
      consoleError.apply(window.console, arguments);
    };
  }

  function nextSeq() {
    lastSeq = Math.max(Date.now(), lastSeq + 1);
    return lastSeq;
  }

  function builderForm() {
    return document.getElementById("builder");
  }

  function notifyChange() {
    var form = builderForm();
    if (form) {
      form.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb === "post") {
      event.detail.parameters._seq = String(nextSeq());
    }
  });

  function showError(target, message) {
    if (!target) {
      return;
    }
    var box = document.createElement("div");
    box.className = "alert alert--error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    if (target.id === "live-count") {
      target.replaceChildren(box);
    } else {
      target.insertAdjacentElement("afterbegin", box);
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status >= 500) {
      showError(event.detail.target, "Something went wrong on the server (" + status + "). Try again; the error was logged.");
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.target, "The server could not be reached. Check the connection and try again.");
  });

  /* Column checklists: a filter box and "select shown" / "clear" buttons. */
  document.addEventListener(
    "input",
    function (event) {
      var box = event.target;
      if (!(box instanceof HTMLInputElement) || !box.hasAttribute("data-filter-list")) {
        return;
      }
      event.stopPropagation(); // typing a filter is not a change of the query
      var list = document.getElementById(box.getAttribute("data-filter-list"));
      var needle = box.value.trim().toLowerCase();
      if (!list) {
        return;
      }
      Array.prototype.forEach.call(list.children, function (item) {
        item.hidden = needle !== "" && item.textContent.toLowerCase().indexOf(needle) < 0;
      });
    },
    true
  );

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-check]") : null;
    if (!button) {
      return;
    }
    var list = document.getElementById(button.getAttribute("data-check"));
    var on = button.getAttribute("data-value") === "1";
    if (!list) {
      return;
    }
    list.querySelectorAll("li").forEach(function (item) {
      var box = item.querySelector("input[type=checkbox]");
      if (box && (!on || !item.hidden)) {
        box.checked = on;
      }
    });
    var table = document.getElementById("out-" + list.id.replace(/^cols-/, ""));
    if (on && table) {
      table.checked = true;
    }
    notifyChange();
  });

  /* Output tables: ticking a table picks all its columns (when none is picked yet); picking a column ticks its
     table. Runs before htmx's delayed post reads the form. */
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") {
      return;
    }
    if (box.name === "out") {
      var list = document.getElementById("cols-" + box.value);
      if (box.checked && list && !list.querySelector("input[type=checkbox]:checked")) {
        list.querySelectorAll("input[type=checkbox]").forEach(function (column) {
          column.checked = true;
        });
      }
    } else if (box.name.indexOf("cols-") === 0 && box.checked) {
      var table = document.getElementById("out-" + box.name.slice(5));
      if (table) {
        table.checked = true;
      }
    }
  });

  /* An export form closes once its download has started; Escape closes it too. */
  document.addEventListener("submit", function (event) {
    var menu = event.target instanceof Element ? event.target.closest("details.qb-export") : null;
    if (menu) {
      window.setTimeout(function () {
        menu.open = false;
      }, 400);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !(event.target instanceof Element)) {
      return;
    }
    var menu = event.target.closest("details.qb-export[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  /* One export form open at a time. */
  document.addEventListener(
    "toggle",
    function (event) {
      var opened = event.target;
      if (!(opened instanceof HTMLDetailsElement) || !opened.open || !opened.classList.contains("qb-export")) {
        return;
      }
      document.querySelectorAll("details.qb-export[open]").forEach(function (other) {
        if (other !== opened) {
          other.open = false;
        }
      });
      var field = opened.querySelector("textarea");
      if (field) {
        field.focus();
      }
    },
    true
  );
})();
