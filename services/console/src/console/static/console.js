// Charts: every element with data-chart holds the id of a <script type="application/json"> block
// with an ECharts option; ECharts is loaded only on pages that have charts.
(function () {
  function draw(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(source.textContent));
      el.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  // A photo chosen for upload is shown before it is sent.
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("input[type=file][data-preview]")) return;
    var img = document.getElementById(input.dataset.preview);
    if (img && input.files && input.files[0] && input.files[0].type.indexOf("image/") === 0) {
      img.src = URL.createObjectURL(input.files[0]);
      img.hidden = false;
    }
  });
})();
