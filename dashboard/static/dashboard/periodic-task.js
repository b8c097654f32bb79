// django-celery-beat's periodic task form: the crontab's help says in words when the chosen
// schedule runs. Its template had this inline; the Content-Security-Policy refuses inline scripts.
(function () {
  "use strict";
  const $ = django.jQuery;
  const readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const originalHelp = document.getElementById("periodic-task-overrides").dataset.crontabHelp;
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    const help = $(".field-crontab .help");
    help.text(originalHelp);  // text, not HTML: a schedule's name is data
    help.append("<br>", document.createTextNode("Translation: " + readable[$("#id_crontab").val()]));
  });
})();
