"""The page in English, Indonesian and Spanish.

Static text reaches the browser through `gr.I18n` (PAGE), whose front end picks the language from
navigator.language. Text made per request (results, refusals, conversion notes, the timing panel and the example
captions) is translated here on the server, in the language of the request's first Accept-Language tag: the same
browser setting, read the same way. The API speaks English whatever the caller's language.

English diagnosis names and explanations are defined once, in lesion.labels; refusals and conversion notes are
written in English by lesion.preprocess and matched here by their English templates (gettext style).
"""

from __future__ import annotations

import re
from functools import cache

from lesion.labels import BY_CODE, CODES

LANGUAGES = ("en", "id", "es")
DEFAULT = "en"

DIAGNOSES = {
    "id": {
        "akiec": ("Keratosis aktinik / karsinoma intraepitelial",
                  "Kerusakan kulit akibat sinar matahari yang kasar dan bersisik (keratosis aktinik) atau penyakit Bowen; "
                  "dapat berkembang menjadi karsinoma sel skuamosa."),
        "bcc": ("Karsinoma sel basal",
                "Kanker kulit yang paling sering ditemukan; tumbuh lambat dan jarang menyebar, tetapi perlu diobati."),
        "bkl": ("Keratosis jinak",
                "Keratosis seboroik, lentigo solaris, atau keratosis mirip liken planus: tidak berbahaya, tetapi dapat "
                "menyerupai melanoma."),
        "df": ("Dermatofibroma", "Benjolan padat yang tidak berbahaya di kulit, sering di tungkai."),
        "mel": ("Melanoma", "Kanker berbahaya pada sel pigmen; bila ditemukan dini, biasanya dapat disembuhkan."),
        "nv": ("Nevus melanositik", "Tahi lalat biasa: pertumbuhan jinak sel pigmen."),
        "vasc": ("Lesi vaskular",
                 "Angioma ceri, angiokeratoma, granuloma piogenik, atau perdarahan: lesi pembuluh darah yang jinak."),
    },
    "es": {
        "akiec": ("Queratosis actínica / carcinoma intraepitelial",
                  "Lesión áspera y descamativa por daño solar (queratosis actínica) o enfermedad de Bowen; puede "
                  "evolucionar a un carcinoma epidermoide (de células escamosas)."),
        "bcc": ("Carcinoma basocelular",
                "El cáncer de piel más frecuente; crece despacio y rara vez se disemina, pero necesita tratamiento."),
        "bkl": ("Queratosis benigna",
                "Queratosis seborreica, léntigo solar o queratosis liquenoide: inofensiva, pero puede parecerse a un "
                "melanoma."),
        "df": ("Dermatofibroma", "Un nódulo firme e inofensivo de la piel, a menudo en las piernas."),
        "mel": ("Melanoma",
                "Un cáncer peligroso de las células del pigmento; si se detecta a tiempo, suele ser curable."),
        "nv": ("Nevus melanocítico", "Un lunar común: un crecimiento benigno de células del pigmento."),
        "vasc": ("Lesión vascular",
                 "Angioma rubí, angioqueratoma, granuloma piógeno o hemorragia: lesiones benignas de los vasos "
                 "sanguíneos."),
    },
}
"""(name, explanation) of each diagnosis; English ones are lesion.labels'."""

_STATIC = {
    "en": {
        "intro": "# Skin lesion classifier\nUpload a **dermoscopic** photo of a skin lesion, or pick an example below. "
                 "A small convolutional network trained on HAM10000 gives the probability of each of seven diagnoses.",
        "disclaimer": "**Research demo, not a diagnosis.** This model has not been clinically validated. It can be "
                      "wrong, and it is often unsure. Its percentages hold for images like those it was trained on; "
                      "on photos from other clinics and cameras it is right less often than they say. It must never "
                      "be used to diagnose, rule out or triage skin cancer. If a spot on your skin worries you, "
                      "changes, bleeds or itches, see a doctor.",
        "image_label": "Dermoscopic image",
        "probabilities_label": "Probability of each diagnosis",
        "timing_accordion": "Timing and model",
        "heatmap_toggle": "Show where the model looks",
        "result_placeholder": "The answer appears here once you upload a photo or click an example.",
        "heatmap_legend": "Warmer, brighter colour: more evidence for this class.",
        "heatmap_label": "Where the model looks (top class)",
        "examples_heading": "## Examples\nClick one. ISIC 2018 test images, never seen in training, captioned with "
                            "their true diagnosis.",
        "diagnoses_accordion": "The seven diagnoses",
        "about_intro": "The model tells apart the seven diagnoses of the HAM10000 dataset. It knows nothing else: a "
                       "photo that does not look like dermoscopy gets no answer.",
        "about_header": "| class | kind | what it is |",
        "malignant": "malignant or pre-malignant",
        "benign": "benign",
        "api_accordion": "Use it from Python, JavaScript or an AI agent",
        "api_intro": "Three endpoints: `/predict` gives the verdict and the probability of each diagnosis, `/classify` "
                     "plain JSON with timings and the model's version, `/classify_batch` the same JSON for callers who "
                     "send many images. All three are tools of the app's MCP server too. For an image that is not "
                     "dermoscopy they name no class, and a file they cannot classify gets one sentence saying why. "
                     "Gradio's page \"Use via API or MCP\", linked at the foot of this page, lists every endpoint with its parameters.",
    },
    "id": {
        "intro": "# Pengklasifikasi lesi kulit\nUnggah foto **dermoskopi** sebuah lesi kulit, atau pilih salah satu "
                 "contoh di bawah. Sebuah jaringan konvolusional kecil yang dilatih dengan HAM10000 memberikan "
                 "probabilitas untuk masing-masing dari tujuh diagnosis.",
        "disclaimer": "**Demo penelitian, bukan diagnosis.** Model ini belum divalidasi secara klinis. Model ini bisa "
                      "salah, dan sering kali tidak yakin. Persentasenya berlaku untuk gambar seperti data latihnya; "
                      "pada foto dari klinik dan kamera lain, model lebih jarang benar daripada yang dikatakan "
                      "persentase itu. Model ini sama sekali tidak boleh digunakan untuk mendiagnosis, menyingkirkan "
                      "kemungkinan, atau melakukan triase kanker kulit. Jika ada bercak pada kulit Anda yang "
                      "mengkhawatirkan, berubah, berdarah, atau gatal, periksakan diri ke dokter.",
        "image_label": "Gambar dermoskopi",
        "probabilities_label": "Probabilitas tiap diagnosis",
        "timing_accordion": "Waktu proses dan model",
        "heatmap_toggle": "Tampilkan bagian yang diperhatikan model",
        "result_placeholder": "Jawaban muncul di sini setelah Anda mengunggah foto atau mengeklik contoh.",
        "heatmap_legend": "Warna lebih hangat dan terang: lebih banyak bukti untuk kelas ini.",
        "heatmap_label": "Bagian yang diperhatikan model (kelas teratas)",
        "examples_heading": "## Contoh\nKlik salah satu. Gambar uji ISIC 2018 yang tidak pernah dipakai dalam "
                            "pelatihan, dengan keterangan diagnosis sebenarnya.",
        "diagnoses_accordion": "Tujuh diagnosis",
        "about_intro": "Model ini membedakan tujuh diagnosis dalam dataset HAM10000. Model tidak mengenal hal lain: "
                       "foto yang tidak tampak seperti dermoskopi tidak mendapat jawaban.",
        "about_header": "| kelas | jenis | penjelasan |",
        "malignant": "ganas atau pra-ganas",
        "benign": "jinak",
        "api_accordion": "Gunakan dari Python, JavaScript, atau agen AI",
        "api_intro": "Tiga endpoint: `/predict` memberikan kesimpulan dan probabilitas tiap diagnosis, `/classify` JSON "
                     "biasa dengan waktu proses dan versi model, `/classify_batch` JSON yang sama untuk pemanggil yang "
                     "mengirim banyak gambar. Ketiganya juga tersedia sebagai tool di server MCP aplikasi ini. Untuk "
                     "gambar yang bukan dermoskopi, tidak ada kelas yang disebut, dan berkas yang tidak dapat "
                     "diklasifikasikan mendapat satu kalimat penjelasan. Halaman Gradio \"Gunakan melalui API atau MCP\", yang ditautkan di bagian bawah halaman ini, mencantumkan semua endpoint dan parameternya.",
    },
    "es": {
        "intro": "# Clasificador de lesiones cutáneas\nSuba una foto **dermatoscópica** de una lesión de la piel o "
                 "elija un ejemplo más abajo. Una pequeña red neuronal convolucional entrenada con HAM10000 da la "
                 "probabilidad de cada uno de siete diagnósticos.",
        "disclaimer": "**Demostración de investigación, no un diagnóstico.** Este modelo no ha sido validado "
                      "clínicamente. Puede equivocarse y a menudo no está seguro. Sus porcentajes valen para imágenes "
                      "como las de su entrenamiento; en fotos de otras clínicas y cámaras acierta menos de lo que "
                      "dicen. Nunca debe usarse para diagnosticar, descartar ni priorizar (triaje) un cáncer de piel. "
                      "Si una mancha en la piel le preocupa, cambia, sangra o le pica, consulte a un médico.",
        "image_label": "Imagen dermatoscópica",
        "probabilities_label": "Probabilidad de cada diagnóstico",
        "timing_accordion": "Tiempos y modelo",
        "heatmap_toggle": "Mostrar dónde mira el modelo",
        "result_placeholder": "La respuesta aparece aquí cuando suba una foto o haga clic en un ejemplo.",
        "heatmap_legend": "Color más cálido y brillante: más indicios de esta clase.",
        "heatmap_label": "Dónde mira el modelo (clase principal)",
        "examples_heading": "## Ejemplos\nHaga clic en uno. Imágenes de prueba de ISIC 2018, nunca vistas en el "
                            "entrenamiento, con su diagnóstico real.",
        "diagnoses_accordion": "Los siete diagnósticos",
        "about_intro": "El modelo distingue los siete diagnósticos del conjunto de datos HAM10000. No sabe nada más: "
                       "una foto que no parece dermatoscópica no recibe respuesta.",
        "about_header": "| clase | tipo | qué es |",
        "malignant": "maligna o premaligna",
        "benign": "benigna",
        "api_accordion": "Úselo desde Python, JavaScript o un agente de IA",
        "api_intro": "Tres endpoints: `/predict` da el veredicto y la probabilidad de cada diagnóstico, `/classify` "
                     "JSON simple con los tiempos y la versión del modelo, `/classify_batch` el mismo JSON para quien "
                     "envía muchas imágenes. Los tres son también herramientas del servidor MCP de la aplicación. Para "
                     "una imagen que no es dermatoscópica no nombran ninguna clase, y un archivo que no pueden "
                     "clasificar recibe una frase que dice por qué. La página de Gradio \"Usar vía API o MCP\", enlazada al pie de esta página, enumera todos los endpoints y sus parámetros.",
    },
}

MESSAGES = {
    "en": {
        "result_placeholder": "The answer appears here once you upload a photo or click an example.",
        "timing_accordion_empty": "Timing and model",
        "timing_line": "Time: this image {this} ms; median since startup {median} ms (n = {count})",
        "timing_line_none": "Time: median since startup {median} ms (n = {count})",
        "heatmap_class": "Where the model looks for {name}",
        "true_label": "This example's true diagnosis: **{name}**",
        "headline_not_dermoscopic": "## This does not look like a dermoscopic image of a skin lesion\nThe model only knows close-up dermoscopy photos of skin lesions, so it gives no answer for this one. Please upload a dermoscopic photo.",
        "headline_alarm": "## Melanoma alarm raised: please have this lesion checked by a doctor\nWeighed against a nevus alone, this lesion looks like a melanoma. On held-back HAM10000 images the alarm caught {sensitivity:.0%} of melanomas and was raised for {false_alarms:.0%} of other lesions; on other clinics' images it misses more.",
        "headline_alarm_grey": "## Melanoma alarm raised: please have this lesion checked by a doctor\nWeighed against a nevus alone, this lesion looks like a melanoma. How often the alarm is right was measured on colour photos only.",
        "bars_reading": "Apart from the alarm, the seven bars read: {reading}.",
        "headline_unsure": "## Unsure: {names}\nNo diagnosis reaches {threshold:.0%}; the most likely has {p1:.0%}.",
        "headline_confident": "## {top}: {p1:.0%}",
        "headline_grayscale": "## Grayscale image: no reliable answer\nThe model was trained on colour photos and is often wrong on grey ones, even when it looks sure. Its most likely: {names}; the first has {p1:.0%}.",
        "or": " or ",
        "malignant_share": "The malignant and pre-malignant classes (akiec, bcc, mel) together get {share:.0%}.",
        "see_a_doctor": "Whatever the model says, only a doctor can tell: please have the lesion checked.",
        "melanoma_alarm_quiet_grey": "**Melanoma alarm: not raised.** That means nothing for a grey image: the alarm was measured on colour photos only.",
        "melanoma_alarm_quiet": "**Melanoma alarm: not raised.** That is no all-clear: on held-back HAM10000 images it missed {missed:.0%} of melanomas, and it misses more on other clinics' images.",
        "count": "**Classifications since startup:** {count}",
        "this_image": "this image", "mean": "mean", "p50": "p50", "p95": "p95", "min": "min", "max": "max",
        "decode_ms": "decode", "preprocess_ms": "preprocess", "inference_ms": "inference", "total_ms": "total",
        "model_line": "**Model:** {model}, from {origin}{revision}: {reason}.",
        "origin_bundled": "the copy that ships with the app", "origin_hub": "the Hugging Face Hub", "origin_cache": "the Hub, downloaded earlier", "revision": " at revision {revision}",
        "reason_none": "no Hub model is configured",
        "reason_latest": "the latest model from the Hub",
        "reason_cache_retrying": "{why}, so the copy downloaded earlier serves; the app switches to the Hub model as soon as it arrives",
        "reason_cache": "{why}, so the copy downloaded earlier serves",
        "reason_bundled_retrying": "{why}, and no verified copy from an earlier download is here, so the model that ships with the app serves; the app switches to the Hub model as soon as it arrives",
        "reason_bundled": "{why}, and no verified copy from an earlier download is here, so the model that ships with the app serves",
        "why_timeout": "the Hub did not answer within {seconds} s", "why_offline": "the Hub is switched off",
        "why_integrity": "the model downloaded from the Hub failed its integrity check",
        "why_missing": "the Hub does not have the configured model", "why_error": "the Hub answered with an error",
        "why_unreachable": "the Hub could not be reached", "why_unusable": "the Hub's answer could not be used",
        "title_no_image": "No image", "no_image": "Please upload an image first.",
        "title_missing": "No image file", "missing": "No image file at {path}.",
        "title_not_uploaded": "Not an upload",
        "title_not_downloaded": "Could not download",
        "not_downloaded": "The image at {url} could not be downloaded; check the address, or send the file itself.",
        "not_uploaded": "Send the image itself (gradio_client's handle_file, or a data: URL): paths on the server are not read.",
        "title_empty": "Empty file", "empty": "The file is empty; please choose an image file (JPEG or PNG).",
        "title_not_image": "Not an image",
        "not_image": "The file is not an image that can be read; please upload a JPEG or PNG photo.",
        "title_corrupt": "Damaged file",
        "corrupt": "The image file is corrupt or truncated ({detail}); please upload it again.",
        "title_too_large": "Too large",
        "too_large": "The image is {width}x{height} pixels, too large: at most {megapixels} megapixels are accepted; "
                     "please upload a smaller copy.",
        "bomb": "The image is too large to decode safely ({detail}); please upload a smaller copy.",
        "file_too_large": "The file is {size_mb:.0f} MB, over the {limit_mb} MB limit; please upload a smaller copy.",
        "body_too_large": "The request is over the {limit} MB limit; send the image as a file of at most {file_limit} MB.",
        "busy": "You already have {count} images waiting; please wait for their answers before sending more.",
        "queue_full": "The classifier is busy: {size} images are waiting. Please try again in a minute.",
        "title_too_small": "Too small",
        "too_small": "The image is only {width}x{height} pixels; at least {min_width}x{min_height} is needed. "
                     "Please upload a larger photo.",
        "title_refused": "Cannot be classified",
        "animated": "Animated image with {frames} frames: only the first frame was classified.",
        "exif": "Rotated upright using the photo's EXIF orientation.",
        "sixteen_bit": "16-bit image: scaled to 8 bits.",
        "transparent": "Transparent areas were filled with black, like the dark corners of a dermoscope.",
        "cmyk": "CMYK image: converted to RGB.",
    },
    "id": {
        "result_placeholder": "Jawaban muncul di sini setelah Anda mengunggah foto atau mengeklik contoh.",
        "timing_accordion_empty": "Waktu proses dan model",
        "timing_line": "Waktu: gambar ini {this} md; median sejak server dimulai {median} md (n = {count})",
        "timing_line_none": "Waktu: median sejak server dimulai {median} md (n = {count})",
        "heatmap_class": "Bagian yang diperhatikan model untuk {name}",
        "true_label": "Diagnosis sebenarnya dari contoh ini: **{name}**",
        "headline_not_dermoscopic": "## Ini tidak tampak seperti gambar dermoskopi lesi kulit\nModel ini hanya mengenal foto dermoskopi jarak dekat dari lesi kulit, jadi model tidak memberi jawaban untuk gambar ini. Silakan unggah foto dermoskopi.",
        "headline_alarm": "## Alarm melanoma menyala: periksakan lesi ini ke dokter\nBila hanya dibandingkan dengan nevus, lesi ini tampak seperti melanoma. Pada gambar HAM10000 yang disisihkan, alarm ini menangkap {sensitivity:.0%} melanoma dan menyala untuk {false_alarms:.0%} lesi lain; pada gambar dari klinik lain, lebih banyak yang terlewat.",
        "headline_alarm_grey": "## Alarm melanoma menyala: periksakan lesi ini ke dokter\nBila hanya dibandingkan dengan nevus, lesi ini tampak seperti melanoma. Seberapa sering alarm ini benar hanya diukur pada foto berwarna.",
        "bars_reading": "Di luar alarm, ketujuh batang menunjukkan: {reading}.",
        "headline_unsure": "## Tidak yakin: {names}\nTidak ada diagnosis yang mencapai {threshold:.0%}; yang paling mungkin mendapat {p1:.0%}.",
        "headline_confident": "## {top}: {p1:.0%}",
        "headline_grayscale": "## Gambar skala abu-abu: tidak ada jawaban yang andal\nModel dilatih dengan foto berwarna dan sering salah pada foto abu-abu, bahkan saat tampak yakin. Yang paling mungkin menurutnya: {names}; yang pertama mendapat {p1:.0%}.",
        "or": " atau ",
        "malignant_share": "Kelas ganas dan pra-ganas (akiec, bcc, mel) bersama-sama mendapat {share:.0%}.",
        "see_a_doctor": "Apa pun hasil model ini, hanya dokter yang dapat memastikannya: periksakan lesi ini ke dokter.",
        "melanoma_alarm_quiet_grey": "**Alarm melanoma: tidak menyala.** Itu tidak berarti apa-apa untuk gambar abu-abu: alarm ini hanya diukur pada foto berwarna.",
        "melanoma_alarm_quiet": "**Alarm melanoma: tidak menyala.** Ini bukan tanda aman: pada gambar HAM10000 yang disisihkan, alarm ini melewatkan {missed:.0%} melanoma, dan lebih banyak lagi pada gambar dari klinik lain.",
        "count": "**Klasifikasi sejak server dimulai:** {count}",
        "this_image": "gambar ini", "mean": "rata-rata", "p50": "p50", "p95": "p95", "min": "min", "max": "maks",
        "decode_ms": "dekode", "preprocess_ms": "praproses", "inference_ms": "inferensi", "total_ms": "total",
        "model_line": "**Model:** {model}, dari {origin}{revision}: {reason}.",
        "origin_bundled": "salinan bawaan aplikasi", "origin_hub": "Hugging Face Hub",
        "origin_cache": "Hugging Face Hub, diunduh sebelumnya",
        "revision": " pada revisi {revision}",
        "reason_none": "tidak ada model Hub yang diatur",
        "reason_latest": "model terbaru dari Hub",
        "reason_cache_retrying": "{why}, jadi salinan yang diunduh sebelumnya yang digunakan; aplikasi beralih ke model Hub begitu model itu tiba",
        "reason_cache": "{why}, jadi salinan yang diunduh sebelumnya yang digunakan",
        "reason_bundled_retrying": "{why}, dan tidak ada salinan terverifikasi dari unduhan sebelumnya, jadi model bawaan aplikasi yang digunakan; aplikasi beralih ke model Hub begitu model itu tiba",
        "reason_bundled": "{why}, dan tidak ada salinan terverifikasi dari unduhan sebelumnya, jadi model bawaan aplikasi yang digunakan",
        "why_timeout": "Hub tidak menjawab dalam {seconds} detik", "why_offline": "akses ke Hub dimatikan",
        "why_integrity": "model yang diunduh dari Hub gagal dalam pemeriksaan integritas",
        "why_missing": "Hub tidak memiliki model yang diatur", "why_error": "Hub menjawab dengan galat",
        "why_unreachable": "Hub tidak dapat dihubungi", "why_unusable": "jawaban Hub tidak dapat digunakan",
        "title_no_image": "Tidak ada gambar", "no_image": "Silakan unggah gambar terlebih dahulu.",
        "title_missing": "Berkas gambar tidak ada", "missing": "Tidak ada berkas gambar di {path}.",
        "title_not_uploaded": "Bukan unggahan",
        "title_not_downloaded": "Tidak dapat diunduh",
        "not_downloaded": "Gambar di {url} tidak dapat diunduh; periksa alamatnya, atau kirim berkasnya sendiri.",
        "not_uploaded": "Kirim gambarnya sendiri (handle_file dari gradio_client, atau URL data:): path di server tidak dibaca.",
        "title_empty": "Berkas kosong", "empty": "Berkas ini kosong; silakan pilih berkas gambar (JPEG atau PNG).",
        "title_not_image": "Bukan gambar",
        "not_image": "Berkas ini bukan gambar yang dapat dibaca; silakan unggah foto JPEG atau PNG.",
        "title_corrupt": "Berkas rusak",
        "corrupt": "Berkas gambar rusak atau terpotong ({detail}); silakan unggah ulang.",
        "title_too_large": "Terlalu besar",
        "too_large": "Gambar berukuran {width}x{height} piksel, terlalu besar: paling banyak {megapixels} megapiksel "
                     "yang diterima; silakan unggah salinan yang lebih kecil.",
        "bomb": "Gambar terlalu besar untuk didekode dengan aman ({detail}); silakan unggah salinan yang lebih kecil.",
        "file_too_large": "Berkas berukuran {size_mb} MB, melebihi batas {limit_mb} MB; silakan unggah salinan yang lebih kecil.",
        "body_too_large": "Permintaan melebihi batas {limit} MB; kirim gambarnya sebagai berkas paling besar {file_limit} MB.",
        "busy": "Anda sudah punya {count} gambar yang menunggu; tunggu jawabannya sebelum mengirim lagi.",
        "queue_full": "Pengklasifikasi sedang sibuk: {size} gambar menunggu. Silakan coba lagi sebentar lagi.",
        "title_too_small": "Terlalu kecil",
        "too_small": "Gambar hanya berukuran {width}x{height} piksel; dibutuhkan minimal {min_width}x{min_height}. "
                     "Silakan unggah foto yang lebih besar.",
        "title_refused": "Tidak dapat diklasifikasikan",
        "animated": "Gambar animasi dengan {frames} bingkai: hanya bingkai pertama yang diklasifikasikan.",
        "exif": "Diputar tegak sesuai orientasi EXIF foto.",
        "sixteen_bit": "Gambar 16-bit: diskalakan ke 8 bit.",
        "transparent": "Area transparan diisi hitam, seperti sudut gelap pada dermoskop.",
        "cmyk": "Gambar CMYK: dikonversi ke RGB.",
    },
    "es": {
        "result_placeholder": "La respuesta aparece aquí cuando suba una foto o haga clic en un ejemplo.",
        "timing_accordion_empty": "Tiempos y modelo",
        "timing_line": "Tiempo: esta imagen {this} ms; mediana desde el inicio {median} ms (n = {count})",
        "timing_line_none": "Tiempo: mediana desde el inicio {median} ms (n = {count})",
        "heatmap_class": "Dónde mira el modelo para {name}",
        "true_label": "Diagnóstico real de este ejemplo: **{name}**",
        "headline_not_dermoscopic": "## Esto no parece una imagen dermatoscópica de una lesión cutánea\nEl modelo solo conoce fotos dermatoscópicas de cerca de lesiones cutáneas, así que no da ninguna respuesta para esta. Suba una foto dermatoscópica.",
        "headline_alarm": "## Alarma de melanoma activada: haga revisar esta lesión por un médico\nComparada solo con un nevus, esta lesión parece un melanoma. En imágenes reservadas de HAM10000, la alarma detectó el {sensitivity:.0%} de los melanomas y se activó en el {false_alarms:.0%} de las demás lesiones; en imágenes de otras clínicas se le escapan más.",
        "headline_alarm_grey": "## Alarma de melanoma activada: haga revisar esta lesión por un médico\nComparada solo con un nevus, esta lesión parece un melanoma. Cuántas veces acierta la alarma se midió solo con fotos en color.",
        "bars_reading": "Aparte de la alarma, las siete barras dicen: {reading}.",
        "headline_unsure": "## No está seguro: {names}\nNingún diagnóstico llega al {threshold:.0%}; el más probable obtiene {p1:.0%}.",
        "headline_confident": "## {top}: {p1:.0%}",
        "headline_grayscale": "## Imagen en escala de grises: sin respuesta fiable\nEl modelo se entrenó con fotos en color y a menudo se equivoca con las grises, incluso cuando parece seguro. Lo más probable según él: {names}; el primero obtiene {p1:.0%}.",
        "or": " o ",
        "malignant_share": "Las clases malignas y premalignas (akiec, bcc, mel) suman en conjunto {share:.0%}.",
        "see_a_doctor": "Diga lo que diga el modelo, solo un médico puede saberlo: haga revisar la lesión.",
        "melanoma_alarm_quiet_grey": "**Alarma de melanoma: no activada.** Eso no significa nada para una imagen en gris: la alarma se midió solo con fotos en color.",
        "melanoma_alarm_quiet": "**Alarma de melanoma: no activada.** No es una garantía: en imágenes reservadas de HAM10000 dejó pasar el {missed:.0%} de los melanomas, y más en imágenes de otras clínicas.",
        "count": "**Clasificaciones desde el inicio del servidor:** {count}",
        "this_image": "esta imagen", "mean": "media", "p50": "p50", "p95": "p95", "min": "mín.", "max": "máx.",
        "decode_ms": "decodif.", "preprocess_ms": "preproceso", "inference_ms": "inferencia", "total_ms": "total",
        "model_line": "**Modelo:** {model}, de {origin}{revision}: {reason}.",
        "origin_bundled": "la copia incluida en la aplicación", "origin_hub": "Hugging Face Hub",
        "origin_cache": "Hugging Face Hub, descargado antes",
        "revision": " en la revisión {revision}",
        "reason_none": "no hay ningún modelo del Hub configurado",
        "reason_latest": "el modelo más reciente del Hub",
        "reason_cache_retrying": "{why}, así que sirve la copia descargada antes; la aplicación pasará al modelo del Hub en cuanto llegue",
        "reason_cache": "{why}, así que sirve la copia descargada antes",
        "reason_bundled_retrying": "{why} y no hay aquí ninguna copia verificada de una descarga anterior, así que sirve el modelo incluido en la aplicación; la aplicación pasará al modelo del Hub en cuanto llegue",
        "reason_bundled": "{why} y no hay aquí ninguna copia verificada de una descarga anterior, así que sirve el modelo incluido en la aplicación",
        "why_timeout": "el Hub no respondió en {seconds} s", "why_offline": "el acceso al Hub está desactivado",
        "why_integrity": "el modelo descargado del Hub no superó la comprobación de integridad",
        "why_missing": "el Hub no tiene el modelo configurado", "why_error": "el Hub respondió con un error",
        "why_unreachable": "no se pudo contactar con el Hub", "why_unusable": "no se pudo usar la respuesta del Hub",
        "title_no_image": "Sin imagen", "no_image": "Primero suba una imagen.",
        "title_missing": "Falta el archivo", "missing": "No hay ningún archivo de imagen en {path}.",
        "title_not_uploaded": "No es una subida",
        "title_not_downloaded": "No se pudo descargar",
        "not_downloaded": "No se pudo descargar la imagen de {url}; revise la dirección o envíe el archivo mismo.",
        "not_uploaded": "Envíe la imagen misma (handle_file de gradio_client, o una URL data:): no se leen rutas del servidor.",
        "title_empty": "Archivo vacío", "empty": "El archivo está vacío; elija un archivo de imagen (JPEG o PNG).",
        "title_not_image": "No es una imagen",
        "not_image": "El archivo no es una imagen legible; suba una foto JPEG o PNG.",
        "title_corrupt": "Archivo dañado",
        "corrupt": "El archivo de imagen está dañado o incompleto ({detail}); vuelva a subirlo.",
        "title_too_large": "Demasiado grande",
        "too_large": "La imagen mide {width}x{height} píxeles, demasiado grande: se aceptan como máximo {megapixels} "
                     "megapíxeles; suba una copia más pequeña.",
        "bomb": "La imagen es demasiado grande para decodificarla con seguridad ({detail}); suba una copia más pequeña.",
        "file_too_large": "El archivo ocupa {size_mb} MB, más que el límite de {limit_mb} MB; suba una copia más pequeña.",
        "body_too_large": "La solicitud supera el límite de {limit} MB; envíe la imagen como archivo de {file_limit} MB como máximo.",
        "busy": "Ya tiene {count} imágenes en espera; espere sus respuestas antes de enviar más.",
        "queue_full": "El clasificador está ocupado: hay {size} imágenes en espera. Vuelva a intentarlo en un minuto.",
        "title_too_small": "Demasiado pequeña",
        "too_small": "La imagen mide solo {width}x{height} píxeles; se necesitan al menos {min_width}x{min_height}. "
                     "Suba una foto más grande.",
        "title_refused": "No se puede clasificar",
        "animated": "Imagen animada con {frames} fotogramas: solo se clasificó el primero.",
        "exif": "Se enderezó según la orientación EXIF de la foto.",
        "sixteen_bit": "Imagen de 16 bits: convertida a 8 bits.",
        "transparent": "Las zonas transparentes se rellenaron de negro, como las esquinas oscuras de un dermatoscopio.",
        "cmyk": "Imagen CMYK: convertida a RGB.",
    },
}
"""Text made per request. The English refusal and note templates are lesion.preprocess's sentences (and the app's
own file size limit), and the reasons for the model served are lesion.hub's."""

REFUSALS = {"missing": "missing", "empty": "empty", "not_image": "not_image", "corrupt": "corrupt",
            "too_large": "too_large", "bomb": "too_large", "file_too_large": "too_large", "too_small": "too_small",
            "not_uploaded": "not_uploaded", "not_downloaded": "not_downloaded", "no_image": "no_image"}
"""Refusal message key -> the key of its title (title_...)."""
NOTES = ("animated", "exif", "sixteen_bit", "transparent", "cmyk")
MODEL_REASONS = ("reason_none", "reason_latest", "reason_cache_retrying", "reason_cache", "reason_bundled_retrying",
                 "reason_bundled")
HUB_FAULTS = ("why_timeout", "why_offline", "why_integrity", "why_missing", "why_error", "why_unreachable", "why_unusable")


def request_language(accept_language: str | None) -> str:
    """The page's language for an Accept-Language header: its first tag, as Gradio's front end reads navigator.language
    ("es-MX" -> "es"), and English when that language is not offered."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip().lower()
    primary = first.split("-")[0]
    return primary if primary in LANGUAGES else DEFAULT


def message(key: str, language: str, **values) -> str:
    """One per-request text in `language`, formatted with `values`."""
    return MESSAGES[language][key].format(**values)


def diagnosis_name(code: str, language: str) -> str:
    """The label users see, for example "Melanoma (mel)" or "Nevus melanocítico (nv)"."""
    if language == DEFAULT:
        return BY_CODE[code].display_name
    return f"{DIAGNOSES[language][code][0]} ({code})"


def diagnosis_explanation(code: str, language: str) -> str:
    return BY_CODE[code].explanation if language == DEFAULT else DIAGNOSES[language][code][1]


def refusal(sentence: str, language: str) -> tuple[str, str]:
    """(title, sentence) in `language` for the English sentence of a refused image; the sentence itself is kept in
    English, and the title is generic, when it matches no known refusal."""
    matched = _match(sentence, tuple(REFUSALS))
    if matched is None:
        return message("title_refused", language), sentence
    key, values = matched
    return message(f"title_{REFUSALS[key]}", language), _refill(sentence, key, values, language)


def note(sentence: str, language: str) -> str:
    """A conversion note of lesion.preprocess in `language`; unknown notes stay in English."""
    return _translate(sentence, NOTES, language)


def model_reason(sentence: str, language: str) -> str:
    """Why lesion.hub serves the model it serves, in `language`; unknown reasons stay in English."""
    matched = _match(sentence, MODEL_REASONS)
    if matched is None or language == DEFAULT:
        return sentence
    key, fields = matched
    if "why" in fields:
        fields["why"] = _translate(fields["why"], HUB_FAULTS, language)
    return _refill(sentence, key, fields, language)


def _translate(sentence: str, keys: tuple[str, ...], language: str) -> str:
    matched = _match(sentence, keys)
    return sentence if matched is None else _refill(sentence, *matched, language)


def _refill(sentence: str, key: str, values: dict[str, str], language: str) -> str:
    """The template `key` in `language` filled with the text matched in the English `sentence` (kept as it is in English)."""
    if language == DEFAULT:
        return sentence
    return re.sub(r"\{(\w+)[^}]*\}", r"{\1}", MESSAGES[language][key]).format(**values)


def _match(sentence: str, keys: tuple[str, ...]) -> tuple[str, dict[str, str]] | None:
    """(key, fields) of the first English template among `keys` that `sentence` fits."""
    for key in keys:
        found = _pattern(key).fullmatch(sentence)
        if found:
            return key, found.groupdict()
    return None


@cache
def _pattern(key: str) -> re.Pattern:
    """The English template of `key` as a regular expression whose groups are its fields."""
    parts = re.split(r"\{(\w+)[^}]*\}", MESSAGES[DEFAULT][key])
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)),
                      re.DOTALL)


def about_markdown(language: str) -> str:
    """The seven diagnoses as a table, with what each one is."""
    text = _STATIC[language]
    rows = [f"| {diagnosis_name(code, language)} | {text['malignant'] if BY_CODE[code].malignant else text['benign']} "
            f"| {diagnosis_explanation(code, language)} |" for code in CODES]
    return "\n".join([text["about_intro"], "", text["about_header"], "|---|---|---|", *rows])


_ABOUT_PARTS = ("about_intro", "about_header", "malignant", "benign")
GRADIO_FOOTER = {"en": "Use via API or MCP", "id": "Gunakan melalui API atau MCP", "es": "Usar vía API o MCP"}
"""Gradio's own footer link (its key errors.use_via_api_or_mcp), which Gradio 6 left in English beside the page's
own translations."""
PAGE = {language: {**{key: text for key, text in _STATIC[language].items() if key not in _ABOUT_PARTS},
                   "about": about_markdown(language)} for language in LANGUAGES}
"""Static text for gr.I18n: {language: {key: text}}."""
GRADIO_PAGE = {language: {**PAGE[language], "errors": {"use_via_api_or_mcp": GRADIO_FOOTER[language]}}
               for language in LANGUAGES}
"""PAGE with Gradio's own footer link (nested under its namespace, as Gradio's front end looks it up), for gr.I18n."""


PRIVATE_MODE = {
    "en": {
        "private_toggle": "Classify on this device: the photo is not uploaded",
        "private_about": "The model runs in this browser. The photo you choose here stays on this device; the app "
                         "only sends the browser the model and its runtime ({megabytes} MB, once: the browser keeps "
                         "them).",
        "private_choose": "Choose a photo",
        "private_drop": "or drop one here. Examples below are classified on this device too.",
        "private_loading": "Loading the model into this browser…",
        "private_classifying": "Classifying on this device…",
        "private_ran": "Ran on this device in {total} ms (decode {decode}, preparation {prepare}, inference "
                       "{inference}); nothing was uploaded.",
        "private_ready": "Ready: choose a photo, and it is classified on this device.",
        "private_no_wasm": "This browser cannot run WebAssembly, so it cannot classify on this device.",
        "private_runtime_failed": "The on-device runtime (LiteRT.js) could not load ({detail}).",
        "private_model_failed": "The model could not load on this device ({detail}).",
        "private_failed": "Classifying on this device failed ({detail}).",
        "unavailable_runtime": "This server cannot offer private mode: its copy of the on-device runtime is missing.",
        "unavailable_model": "This server cannot offer private mode: the model serving now has no browser version.",
        "private_use_server": "Classify on the server instead (the photo is then uploaded)",
        "private_nothing_sent": "Nothing was sent.",
    },
    "id": {
        "private_toggle": "Klasifikasikan di perangkat ini: foto tidak diunggah",
        "private_about": "Model berjalan di peramban ini. Foto yang Anda pilih di sini tetap berada di perangkat ini; "
                         "aplikasi hanya mengirimkan model dan runtime-nya ke peramban ({megabytes} MB, sekali saja: "
                         "peramban menyimpannya).",
        "private_choose": "Pilih foto",
        "private_drop": "atau letakkan di sini. Contoh di bawah juga diklasifikasikan di perangkat ini.",
        "private_loading": "Memuat model ke peramban ini…",
        "private_classifying": "Mengklasifikasikan di perangkat ini…",
        "private_ran": "Berjalan di perangkat ini dalam {total} md (dekode {decode}, persiapan {prepare}, inferensi "
                       "{inference}); tidak ada yang diunggah.",
        "private_ready": "Siap: pilih foto, dan foto itu diklasifikasikan di perangkat ini.",
        "private_no_wasm": "Peramban ini tidak dapat menjalankan WebAssembly, jadi tidak dapat mengklasifikasikan di "
                           "perangkat ini.",
        "private_runtime_failed": "Runtime di perangkat (LiteRT.js) tidak dapat dimuat ({detail}).",
        "private_model_failed": "Model tidak dapat dimuat di perangkat ini ({detail}).",
        "private_failed": "Klasifikasi di perangkat ini gagal ({detail}).",
        "unavailable_runtime": "Server ini tidak dapat menyediakan mode privat: salinan runtime untuk perangkat tidak "
                               "ada.",
        "unavailable_model": "Server ini tidak dapat menyediakan mode privat: model yang sedang digunakan tidak "
                             "memiliki versi untuk peramban.",
        "private_use_server": "Klasifikasikan di server saja (foto akan diunggah)",
        "private_nothing_sent": "Tidak ada yang dikirim.",
    },
    "es": {
        "private_toggle": "Clasificar en este dispositivo: la foto no se sube",
        "private_about": "El modelo se ejecuta en este navegador. La foto que elija aquí se queda en este "
                         "dispositivo; la aplicación solo envía al navegador el modelo y su entorno de ejecución "
                         "({megabytes} MB, una sola vez: el navegador los guarda).",
        "private_choose": "Elegir una foto",
        "private_drop": "o suéltela aquí. Los ejemplos de abajo también se clasifican en este dispositivo.",
        "private_loading": "Cargando el modelo en este navegador…",
        "private_classifying": "Clasificando en este dispositivo…",
        "private_ran": "Se ejecutó en este dispositivo en {total} ms (decodificación {decode}, preparación {prepare}, "
                       "inferencia {inference}); no se subió nada.",
        "private_ready": "Listo: elija una foto y se clasificará en este dispositivo.",
        "private_no_wasm": "Este navegador no puede ejecutar WebAssembly, así que no puede clasificar en este "
                           "dispositivo.",
        "private_runtime_failed": "No se pudo cargar el entorno de ejecución en el dispositivo (LiteRT.js) ({detail}).",
        "private_model_failed": "No se pudo cargar el modelo en este dispositivo ({detail}).",
        "private_failed": "La clasificación en este dispositivo falló ({detail}).",
        "unavailable_runtime": "Este servidor no puede ofrecer el modo privado: falta su copia del entorno de "
                               "ejecución para el dispositivo.",
        "unavailable_model": "Este servidor no puede ofrecer el modo privado: el modelo que sirve ahora no tiene "
                             "versión para el navegador.",
        "private_use_server": "Clasificar en el servidor (la foto se sube)",
        "private_nothing_sent": "No se envió nada.",
    },
}
"""Private mode's own text (lesion.private_mode serves it to the browser with the server's result text)."""
