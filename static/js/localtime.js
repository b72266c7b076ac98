// Shows every <time class="local-time" datetime="…"> in the viewer's time zone; the server
// writes UTC, which stays (as the title) for anyone comparing with the refusal messages.
(function () {
  "use strict";
  var format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZoneName: "short"
    });
  } catch (e) {
    return; // no Intl: the UTC text stays
  }
  var times = document.querySelectorAll("time.local-time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var el = times[i];
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) { continue; }
    el.title = el.textContent;
    el.textContent = format.format(moment);
    el.dataset.localised = "1";
  }
}());
