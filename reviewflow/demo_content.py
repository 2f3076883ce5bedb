"""Original demo content for reviewflow, loaded by ``flask --app reviewflow seed-demo``.

Everything here is invented for the demo: the people, their licences, clinics
and review networks, and the article texts. The articles are general health
information written for the demo; they are not copied from any publisher.

This module only holds data. It exposes:

``PEOPLE``
    Demo accounts. Keys: ``email``, ``name``, ``password``, ``roles`` (list of
    "writer" / "reviewer" / "editor" / "admin") and ``bio``. Reviewers also
    have ``credentials``, ``specialty``, ``license_number``,
    ``license_jurisdiction``, ``license_expires`` (ISO date), ``affiliation``
    and ``organization``. Exactly one reviewer's licence has expired
    (2025-06-30), so that reviewer cannot be assigned or sign off.

``ARTICLES``
    Demo articles, one per lifecycle state the seeder should reproduce.
    Keys on every article:

    - ``key``: short stable id.
    - ``title``: the title (the same for every revision).
    - ``topic``: equals the ``specialty`` of the reviewer who reviews it.
    - ``writer``: email of the writing writer.
    - ``target_state``: one of ``TARGET_STATES`` (see its comments).
    - ``reviewer``: email of the assigned reviewer, or ``None`` for
      "draft" and "submitted" articles.
    - ``revisions``: 1-3 dicts ``{"body": Markdown, "note": change note}``,
      oldest first; each is a small edit of the one before.
    - ``annotations``: dicts ``{"quote", "comment", "blocking", "resolved"}``
      plus an optional ``"reply"`` (the writer's answer). Each quote occurs
      exactly once in the FIRST revision's body, which is where it is made.
      It still occurs in the last revision unless the annotation is resolved
      (the text was fixed) or carries ``"orphaned": True`` (left open on
      purpose after the text changed, to show an orphaned annotation).
    - ``change_notes``: one public change note per published version, oldest
      first (empty when the article was never published).

    Keys on some articles only:

    - ``published_revision``: 1-based index into ``revisions`` of the
      revision that is (or was) live, for every state that has been published.
    - ``request_changes_comment``: the reviewer's signed decision comment,
      for "changes_requested".
    - ``unpublish_reason``: the editor's reason, for "unpublished".

``TARGET_STATES``
    The states ``target_state`` may take.

Run ``python3 reviewflow/demo_content.py`` to check the data's consistency.
"""

from __future__ import annotations

DEMO_PASSWORD = "reviewflow-demo-2026"


def _revise(text: str, *edits: tuple[str, str]) -> str:
    """Return ``text`` with each ``(old, new)`` edit applied once.

    Later revisions are written as edits of the previous one so that the
    change is visible here; an edit whose ``old`` text does not occur exactly
    once is a mistake in this file and raises ``ValueError``.
    """
    for old, new in edits:
        if text.count(old) != 1:
            raise ValueError(f"edit target must occur exactly once: {old!r}")
        text = text.replace(old, new)
    return text


# ---------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------

_NETWORK_NORTH = "Northbridge Medical Review Network"
_NETWORK_CLEAR = "Clearwater Clinical Review Collective"

PEOPLE: list[dict] = [
    # --- Writers ---------------------------------------------------------
    {
        "email": "maren.castellano@example.org",
        "name": "Maren Castellano",
        "password": DEMO_PASSWORD,
        "roles": ["writer"],
        "bio": (
            "Maren Castellano is a health writer who covers skin care, "
            "children's health and everyday nutrition. She spent eight years "
            "as a science reporter before moving to consumer health."
        ),
    },
    {
        "email": "theo.lindqvist@example.org",
        "name": "Theo Lindqvist",
        "password": DEMO_PASSWORD,
        "roles": ["writer"],
        "bio": (
            "Theo Lindqvist writes about medicines, heart health and staying "
            "well at work. He is especially interested in making drug labels "
            "easier to understand."
        ),
    },
    # --- Reviewers -------------------------------------------------------
    {
        "email": "imani.halvorsen@example.org",
        "name": "Imani Halvorsen",
        "password": DEMO_PASSWORD,
        "roles": ["reviewer"],
        "bio": (
            "Dr. Imani Halvorsen is a board-certified dermatologist who treats "
            "eczema and other chronic skin conditions in adults and children. "
            "Her research looks at how the skin barrier changes with the seasons."
        ),
        "credentials": "M.D., Ph.D.",
        "specialty": "Dermatology",
        "license_number": "MD-GA-048213",
        "license_jurisdiction": "Georgia, USA",
        "license_expires": "2029-03-31",
        "affiliation": "Riverside Skin and Allergy Clinic",
        "organization": _NETWORK_NORTH,
    },
    {
        "email": "joaquin.ferrante@example.org",
        "name": "Joaquin Ferrante",
        "password": DEMO_PASSWORD,
        "roles": ["reviewer"],
        "bio": (
            "Joaquin Ferrante is a clinical pharmacist who counsels patients on "
            "over-the-counter and prescription medicines. He leads a medication "
            "safety program at a community hospital."
        ),
        "credentials": "PharmD",
        "specialty": "Pharmacology",
        "license_number": "RPH-OH-077310",
        "license_jurisdiction": "Ohio, USA",
        "license_expires": "2028-09-15",
        "affiliation": "Lakeshore Community Hospital",
        "organization": _NETWORK_NORTH,
    },
    {
        "email": "hollis.nakamura-reid@example.org",
        "name": "Hollis Nakamura-Reid",
        "password": DEMO_PASSWORD,
        "roles": ["reviewer"],
        "bio": (
            "Hollis Nakamura-Reid is a registered dietitian nutritionist who "
            "helps families plan practical, budget-friendly meals. She has a "
            "special interest in heart health and anemia prevention."
        ),
        "credentials": "R.D.N.",
        "specialty": "Nutrition and Dietetics",
        "license_number": "LD-OR-20415",
        "license_jurisdiction": "Oregon, USA",
        "license_expires": "2030-01-31",
        "affiliation": "Cedar Hollow Nutrition Center",
        "organization": _NETWORK_CLEAR,
    },
    {
        "email": "adaeze.whitcombe@example.org",
        "name": "Adaeze Whitcombe",
        "password": DEMO_PASSWORD,
        "roles": ["reviewer"],
        "bio": (
            "Dr. Adaeze Whitcombe is a general pediatrician who cares for "
            "children from birth through adolescence. She writes a monthly "
            "column for parents on common childhood infections."
        ),
        "credentials": "M.D., F.A.A.P.",
        "specialty": "Pediatrics",
        "license_number": "MD-MN-55902",
        "license_jurisdiction": "Minnesota, USA",
        "license_expires": "2028-12-31",
        "affiliation": "Brightwater Children's Clinic",
        "organization": _NETWORK_CLEAR,
    },
    {
        # Licence expired: the editor cannot assign him and he cannot sign.
        # The only "Occupational Health Nursing" articles are therefore still
        # in "draft" or waiting in "submitted" for a reviewer.
        "email": "callum.ashdown@example.org",
        "name": "Callum Ashdown",
        "password": DEMO_PASSWORD,
        "roles": ["reviewer"],
        "bio": (
            "Callum Ashdown is an occupational health nurse who supports night "
            "and shift workers in manufacturing and transport. He teaches "
            "workshops on fatigue and heat safety."
        ),
        "credentials": "R.N., M.S.N.",
        "specialty": "Occupational Health Nursing",
        "license_number": "RN-AZ-190337",
        "license_jurisdiction": "Arizona, USA",
        "license_expires": "2025-06-30",
        "affiliation": "Mesa Verde Occupational Health Center",
        "organization": _NETWORK_NORTH,
    },
    # --- Editors ---------------------------------------------------------
    {
        "email": "beatrix.solano@example.org",
        "name": "Beatrix Solano",
        "password": DEMO_PASSWORD,
        "roles": ["editor"],
        "bio": (
            "Beatrix Solano is the managing editor for the skin, children's "
            "health and nutrition sections."
        ),
    },
    {
        "email": "niall.pemberton@example.org",
        "name": "Niall Pemberton",
        "password": DEMO_PASSWORD,
        "roles": ["editor"],
        "bio": (
            "Niall Pemberton edits the medicines and workplace health "
            "sections and coordinates scheduled re-reviews."
        ),
    },
    # --- Admin -----------------------------------------------------------
    {
        "email": "rosalind.achterberg@example.org",
        "name": "Rosalind Achterberg",
        "password": DEMO_PASSWORD,
        "roles": ["admin"],
        "bio": (
            "Rosalind Achterberg manages accounts and verifies the "
            "credentials of the medical review team."
        ),
    },
]

_MAREN = "maren.castellano@example.org"
_THEO = "theo.lindqvist@example.org"
_DERM = "imani.halvorsen@example.org"
_PHARM = "joaquin.ferrante@example.org"
_DIET = "hollis.nakamura-reid@example.org"
_PEDS = "adaeze.whitcombe@example.org"


# ---------------------------------------------------------------------------
# Article bodies (Markdown). Later revisions are edits of the one before.
# ---------------------------------------------------------------------------

# --- Eczema in winter (Dermatology) ---------------------------------------

_ECZEMA_1 = """\
Cold air outside and dry, heated air inside can pull moisture out of the skin. \
For people with eczema (atopic dermatitis), winter often brings more itching, \
rough patches and flare-ups. A few daily habits can help protect the skin \
barrier while the weather is harsh.

## Why winter can make eczema worse

Healthy skin holds on to water with the help of natural oils and a tightly \
packed outer layer. In eczema, that barrier is weaker, so water escapes more \
easily and irritants get in. Low humidity, hot showers, scratchy fabrics and \
frequent hand washing can all add to the problem.

## Daily habits that help

- **Moisturize often.** Thick, fragrance-free creams or ointments usually work \
better than thin lotions. Apply them at least twice a day and whenever skin \
feels dry.
- **Take short, lukewarm baths or showers.** Hot water strips away natural \
oils. Keep showers or baths to about 15 to 20 minutes.
- **Seal in water after bathing.** Pat skin gently with a towel and apply \
moisturizer within about three minutes.
- **Choose gentle cleansers.** Use a mild, fragrance-free cleanser only where \
needed.
- **Dress in soft layers.** Cotton next to the skin is often more comfortable \
than wool or some synthetic fabrics.
- **Protect your hands.** Wear gloves outdoors, and moisturize after each hand \
wash.

## A simple bedtime routine

1. Take a short, lukewarm bath or shower.
2. Pat the skin almost dry.
3. Apply any medicated cream your clinician prescribed to the affected areas, \
as directed.
4. Apply a generous layer of moisturizer everywhere else.
5. Put on soft, breathable sleepwear.

Keeping fingernails short can reduce skin damage from night-time scratching.

## Treatments your clinician may suggest

If moisturizing alone is not enough, a clinician may recommend a medicated \
cream or ointment, such as a topical corticosteroid, for short periods during \
flares. Use these exactly as directed, and ask before using an \
over-the-counter product on a child's face or on large areas of skin.

For more background, see MedlinePlus on \
[eczema](https://medlineplus.gov/eczema.html).

## When to see a clinician

Talk with a clinician if:

- itching keeps you or your child awake at night
- the skin does not improve after one to two weeks of careful home care
- you notice oozing, yellow crusts, pus, spreading redness or fever, which can \
be signs of infection
- painful, punched-out sores or clusters of blisters appear; this needs prompt \
medical attention

This article offers general information and is not a substitute for advice \
from a clinician who knows your health history.
"""

_ECZEMA_2 = _revise(
    _ECZEMA_1,
    ("about 15 to 20 minutes.", "about 5 to 10 minutes."),
)

_ECZEMA_3 = _revise(
    _ECZEMA_2,
    (
        "## Treatments your clinician may suggest",
        "## Using a humidifier\n\n"
        "A cool-mist humidifier in the bedroom can add moisture to dry indoor "
        "air. Aim for indoor humidity of about 30 to 50 percent, and clean the "
        "humidifier as the maker recommends so that mold and bacteria do not "
        "build up.\n\n"
        "## Treatments your clinician may suggest",
    ),
)

# --- Sunscreen for children (Dermatology) ---------------------------------

_SUNSCREEN_1 = """\
Sunburns in childhood are painful, and too much sun over the years raises the \
risk of skin cancer later in life. Sunscreen is one part of a bigger plan that \
also includes shade, clothing and timing.

## Start with shade and clothing

Shade and clothing block the sun without needing to be reapplied. Good habits \
include:

- planning outdoor play for earlier or later in the day, when the sun is less \
intense
- seeking shade, especially between 10 a.m. and 4 p.m.
- wide-brimmed hats that shade the face, ears and neck
- sunglasses that block UV rays
- lightweight long sleeves, or swimwear and clothing labeled with a UPF rating

A quick rule of thumb: if your child's shadow is shorter than they are, the \
sun's rays are strong.

## Choosing a sunscreen

For children 6 months and older, look for a product that is:

- **broad spectrum**, meaning it protects against both UVA and UVB rays
- **SPF 30 or higher**
- **water resistant**, if your child will swim or sweat

Mineral sunscreens with zinc oxide or titanium dioxide are often less \
irritating for sensitive skin. Sprays can be hard to apply evenly and should \
not be sprayed near the face; spray into your hands and rub it on instead.

## How to apply it

1. Apply sunscreen about 15 minutes before going outside.
2. Use enough to cover all exposed skin generously; most people use too little.
3. Don't forget ears, the back of the neck, the tops of the feet and the part \
in the hair.
4. Reapply at least every 2 hours, and right after swimming, sweating or towel \
drying.

Clouds do not block all UV rays, so sun protection still matters on overcast \
days. Sand, water and snow reflect sunlight and can increase exposure.

## Babies under 6 months

Keep babies younger than 6 months out of direct sunlight. Use shade, a \
stroller canopy, and light clothing that covers arms and legs.

Learn more from the CDC on \
[sun safety](https://www.cdc.gov/skin-cancer/sun-safety/) and from \
[MedlinePlus](https://medlineplus.gov/sunexposure.html).

## When to see a clinician

Call a clinician if a child has:

- a sunburn with blisters, or a sunburn covering a large area
- fever, chills, headache, confusion or unusual sleepiness after sun exposure
- signs of dehydration, such as a dry mouth or fewer wet diapers
- any sunburn in a baby younger than 1 year

If you have questions about which sunscreen suits your child's skin, ask your \
child's clinician or pharmacist.
"""

_SUNSCREEN_2 = _revise(
    _SUNSCREEN_1,
    (
        "light clothing that covers arms and legs.",
        "light clothing that covers arms and legs. If shade and clothing are "
        "not enough, a small amount of sunscreen on small areas, such as the "
        "face and the backs of the hands, may be used; check with your baby's "
        "clinician first.",
    ),
)

# --- Seasonal allergy medicines (Pharmacology) ----------------------------

_ALLERGY_1 = """\
Sneezing, a runny or stuffy nose, and itchy, watery eyes are the hallmarks of \
seasonal allergies, often called hay fever. Many effective medicines are \
available without a prescription, but they work in different ways and are not \
all right for everyone.

## The main types of allergy medicine

- **Oral antihistamines** such as cetirizine, loratadine and fexofenadine ease \
sneezing, itching and a runny nose. Older antihistamines such as \
diphenhydramine work too but often cause drowsiness.
- **Steroid nasal sprays** such as fluticasone, budesonide and triamcinolone \
reduce swelling in the nose. They are among the most effective options for \
nasal symptoms, but they can take several days of daily use to work fully.
- **Decongestants** relieve a stuffy nose. Tablets such as pseudoephedrine can \
raise blood pressure and heart rate. Decongestant nasal sprays can be used for \
up to two weeks at a time.
- **Antihistamine eye drops** such as ketotifen can help itchy, watery eyes.
- **Saline nasal rinses** wash pollen out of the nose. Use distilled, sterile \
or previously boiled and cooled water, never water straight from the tap.

## Tips for using them well

1. Start a steroid nasal spray a week or two before your usual allergy season \
begins, if your clinician agrees.
2. Take medicine regularly during the season rather than only on the worst \
days.
3. Read the label. Some combination products contain a decongestant, often \
shown by a "-D" in the name.
4. Avoid taking two products that contain the same ingredient.
5. Do not drive or use machinery until you know how an antihistamine affects \
you.

## Who should check first

Ask a pharmacist or clinician before using allergy medicine if you:

- are pregnant or breastfeeding
- have high blood pressure, heart disease, glaucoma, thyroid disease or \
trouble urinating
- are buying for a child, since doses and suitable products differ by age
- are an older adult, as sedating antihistamines can raise the risk of \
confusion and falls
- take other medicines regularly

## Reducing pollen exposure

Keeping windows closed on high-pollen days, showering after time outdoors and \
checking local pollen forecasts can cut down on symptoms. For more, see \
MedlinePlus on [hay fever](https://medlineplus.gov/hayfever.html).

## When to see a clinician

See a clinician if over-the-counter medicines do not control your symptoms, if \
you have wheezing or shortness of breath, or if you get frequent sinus \
infections. A clinician can confirm what you are allergic to and discuss \
prescription options or allergy shots.
"""

# --- Acetaminophen (Pharmacology) -----------------------------------------

_ACETAMINOPHEN_1 = """\
Acetaminophen (called paracetamol in many countries) is one of the most widely \
used medicines for pain and fever. It is gentle on the stomach and safe for \
most people when taken as directed, but taking too much can cause serious \
liver damage.

## What acetaminophen is used for

Acetaminophen can relieve mild to moderate pain, such as headaches, muscle \
aches, toothaches and menstrual cramps, and it can lower a fever. It does not \
reduce swelling the way ibuprofen or naproxen can.

## Know your daily limit

- Follow the dose and timing on the label, and do not take it more often than \
the label says.
- Adults should generally not take more than 4,000 mg in 24 hours.
- Keep track of the times and amounts you take, especially when you are \
unwell.

## Watch for hidden acetaminophen

Acetaminophen is an ingredient in hundreds of products, including many cold, \
flu, cough and sleep medicines, and some prescription pain relievers. On \
prescription labels it may be shortened to "APAP" or "acet." Taking two \
products that both contain it is a common way people take too much by \
accident.

Before taking any combination product:

1. Read the "Active ingredients" section of the Drug Facts label.
2. Check whether any other medicine you are taking also contains \
acetaminophen.
3. Add up the total amount you will take in a day.
4. Ask a pharmacist if you are unsure.

## Giving acetaminophen to children

Children's doses are based on age. Use only the dosing device that comes with \
the product, not a kitchen spoon, and check the concentration on the label. \
For children under 2 years, ask a clinician for the right dose.

## Alcohol and liver health

Drinking alcohol while taking acetaminophen raises the risk of liver damage. \
If you have liver disease or regularly drink alcohol, talk to a clinician \
before using it.

For detailed drug information, see MedlinePlus on \
[acetaminophen](https://medlineplus.gov/druginfo/meds/a681004.html).

## When to see a clinician

Get medical help right away, or call Poison Control at 1-800-222-1222 in the \
United States, if you think someone has taken too much acetaminophen, even if \
they feel fine. Early symptoms can be mild, and treatment works best when \
started early.

Also talk with a clinician if pain lasts more than 10 days or a fever lasts \
more than 3 days, or if you need pain relief regularly.
"""

_ACETAMINOPHEN_2 = _revise(
    _ACETAMINOPHEN_1,
    (
        "Children's doses are based on age.",
        "Children's doses are based on weight, or on age when weight is not "
        "known.",
    ),
    (
        "not take more than 4,000 mg in 24 hours.",
        "not take more than 4,000 mg in 24 hours. Many product labels set a "
        "lower daily limit, such as 3,000 mg, and people with liver problems "
        "may need less; follow the limit on your product's label.",
    ),
)

# --- Iron-rich foods (Nutrition and Dietetics) -----------------------------

_IRON_1 = """\
Iron helps red blood cells carry oxygen around the body. When you do not get \
enough, you may feel tired, weak or short of breath, and over time you can \
develop iron-deficiency anemia. Most people can meet their needs through food.

## How much iron do you need?

Needs vary by age, sex and life stage. As a general guide, adult men and women \
over 50 need about 8 mg a day, women aged 19 to 50 need about 8 mg a day, and \
people who are pregnant need about 27 mg a day. People who eat no meat may \
need more, because iron from plants is absorbed less easily.

## Two kinds of dietary iron

- **Heme iron** comes from animal foods such as red meat, poultry, fish and \
shellfish. The body absorbs it fairly well.
- **Non-heme iron** comes from plant foods and fortified products, such as \
beans, lentils, tofu, dark leafy greens, nuts, seeds and iron-fortified \
cereals and breads.

## Good food sources

- lean beef and lamb
- chicken and turkey, especially dark meat
- canned sardines, clams and mussels
- lentils, chickpeas and kidney beans
- tofu and tempeh
- spinach and other leafy greens
- pumpkin seeds
- breakfast cereals fortified with iron

Spinach is the best source of iron you can eat.

## Tips to absorb more iron

1. Pair plant sources of iron with foods rich in vitamin C, such as citrus \
fruit, strawberries, peppers or tomatoes.
2. Add a little meat, poultry or fish to bean or vegetable dishes; this helps \
the body absorb the plant iron too.
3. Drink tea and coffee between meals rather than with them, since they can \
reduce absorption.
4. If you take a calcium supplement, take it at a different time from \
iron-rich meals.

## A word about supplements

Do not start an iron supplement without talking to a clinician first. Too much \
iron can cause constipation and stomach upset, and it can be harmful for \
people with certain conditions. Keep iron tablets out of children's reach: an \
overdose can be very dangerous for a young child.

Read more in the NIH Office of Dietary Supplements \
[iron fact sheet](https://ods.od.nih.gov/factsheets/Iron-Consumer/).

## When to see a clinician

Talk with a clinician if you often feel unusually tired, look pale, get short \
of breath easily, or have heavy menstrual periods. A simple blood test can \
check for anemia, and its cause needs to be found and treated.
"""

_IRON_2 = _revise(
    _IRON_1,
    (
        "women aged 19 to 50 need about 8 mg a day",
        "women aged 19 to 50 need about 18 mg a day",
    ),
    (
        "Spinach is the best source of iron you can eat.",
        "Spinach contains iron, but it also contains compounds that limit how "
        "much the body absorbs, so it works best as one source among several.",
    ),
)

# --- Heart-healthy breakfast (Nutrition and Dietetics) ---------------------

_BREAKFAST_1 = """\
Breakfast is a good opportunity to add fiber, fruit and whole grains to your \
day, all of which support heart health. What you choose matters more than \
whether you eat first thing or a little later in the morning.

## What a heart-healthy breakfast includes

- **Whole grains**, such as oatmeal, whole-grain toast or high-fiber cereal. \
Oats contain soluble fiber, which can help lower HDL cholesterol.
- **Fruit or vegetables**, fresh, frozen or canned without added sugar.
- **Protein**, such as eggs, unsweetened yogurt, beans, nuts or nut butter.
- **Healthy fats**, from nuts, seeds, avocado or a drizzle of olive oil.

## Foods to limit

Some breakfast favorites are high in saturated fat, sodium or added sugar:

- bacon, sausage and other processed meats
- pastries, muffins and doughnuts
- sweetened cereals and flavored yogurts
- juice drinks with added sugar

You do not need to give these up entirely, but they work best as occasional \
foods rather than daily habits.

## Five quick ideas

1. Oatmeal cooked with milk or water, topped with berries and a spoonful of \
chopped walnuts.
2. Whole-grain toast with mashed avocado and a sliced tomato.
3. Plain yogurt with sliced fruit and a sprinkle of unsalted seeds.
4. A vegetable omelet with spinach, peppers and onions, plus a piece of fruit.
5. A whole-grain wrap with black beans, salsa and a little cheese.

## Reading labels

When shopping, compare Nutrition Facts labels. Look for cereals with at least \
3 grams of fiber per serving and little added sugar. Check the sodium in \
breads, which can add up over a day. The \
[Dietary Guidelines for Americans](https://www.dietaryguidelines.gov/) offer \
more detail on building healthy eating patterns.

## When to see a clinician

If you have high cholesterol, high blood pressure, diabetes or heart disease, \
talk with a clinician or a registered dietitian about an eating plan that \
suits your health and medicines. Some foods, such as grapefruit, can interact \
with certain heart medicines.

Call emergency services right away for chest pain, pressure or tightness, \
especially with shortness of breath, sweating or nausea.
"""

_BREAKFAST_2 = _revise(
    _BREAKFAST_1,
    (
        "which can help lower HDL cholesterol.",
        'which can help lower LDL ("bad") cholesterol.',
    ),
    (
        "with certain heart medicines.",
        "with certain heart medicines, so ask your pharmacist if you are "
        "unsure.",
    ),
)

# --- Hand, foot and mouth disease (Pediatrics) -----------------------------

_HFMD_1 = """\
Hand, foot and mouth disease is a common viral illness in babies and young \
children, especially those under 5 who attend child care. It is usually mild \
and gets better on its own in about 7 to 10 days, but the mouth sores can make \
eating and drinking painful.

## Symptoms

Symptoms usually start 3 to 6 days after exposure. They often appear in this \
order:

1. Fever, reduced appetite, sore throat and feeling generally unwell.
2. Painful sores in the mouth, on the tongue or inside the cheeks, a day or \
two later.
3. A rash of flat or raised red spots, sometimes with blisters, on the palms \
of the hands and soles of the feet. The rash may also appear on the knees, \
elbows, buttocks or diaper area.

Not every child has all of these symptoms. Some children, and many adults, \
have no symptoms at all but can still spread the virus. Weeks later, some \
children lose a fingernail or toenail; this is temporary and the nail grows \
back.

## How it spreads

The illness is caused by viruses such as coxsackievirus. It spreads through:

- saliva, nasal mucus and droplets from coughs and sneezes
- fluid from blisters
- stool, for example during diaper changes
- touching contaminated toys, surfaces and door handles

## Caring for your child at home

- Offer plenty of fluids. Cool drinks, ice pops and soft foods are often \
easier to swallow.
- Avoid acidic, salty or spicy foods, which can sting mouth sores.
- Ask a pharmacist or clinician about the right dose of a fever or pain \
reliever for your child's weight. Never give aspirin to children.
- Let your child rest.

## Preventing spread

Wash hands often with soap and water, especially after diaper changes and \
using the toilet. Clean and disinfect toys and frequently touched surfaces. \
Avoid kissing, hugging and sharing cups or utensils with someone who is sick. \
Ask your child care provider about their policy for returning after illness.

Read more from the CDC on \
[hand, foot, and mouth disease](https://www.cdc.gov/hand-foot-mouth/).

## When to see a clinician

Contact a clinician if your child:

- is not drinking enough or shows signs of dehydration, such as fewer wet \
diapers, a dry mouth or no tears when crying
- has a fever that lasts more than 5 days
- is younger than 6 months or has a weakened immune system
- has symptoms that get worse or do not improve after 10 days

Seek emergency care for a stiff neck, unusual sleepiness, trouble breathing or \
a seizure.
"""

_HFMD_2 = _revise(
    _HFMD_1,
    ("a fever that lasts more than 5 days", "a fever that lasts more than 3 days"),
    (
        "using the toilet. Clean",
        "using the toilet; hand sanitizer may not work as well against the "
        "viruses that cause this illness. Clean",
    ),
)

# --- Staying hydrated in heat (Occupational Health Nursing) ----------------

_HYDRATION_1 = """\
When it's hot, your body cools itself by sweating, and every drop of sweat is \
water you need to replace. Dehydration can sneak up quickly during heat waves, \
outdoor work or exercise, and it raises the risk of heat-related illness.

## Who is at higher risk

- older adults, who may feel less thirsty even when they need fluids
- babies and young children
- people who work or exercise outdoors
- people with heart, kidney or other long-term conditions
- people taking certain medicines, such as diuretics ("water pills")

## Simple ways to stay hydrated

- Drink water regularly through the day; don't wait until you feel thirsty.
- Carry a refillable water bottle when you go out.
- Eat water-rich foods such as watermelon, cucumbers, oranges and soups.
- Limit alcohol and very sugary drinks, which don't hydrate as well as water.
- Check your urine: pale yellow usually means you are drinking enough.

## If you work or exercise in the heat

1. Drink about 1 cup (8 ounces) of water every 15 to 20 minutes while active, \
even if you are not thirsty.
2. Don't drink more than about 48 ounces in an hour; too much water too \
quickly can lower the salt levels in your blood.
3. If you sweat heavily for more than a couple of hours, a drink with \
electrolytes may help replace lost salt.
4. Take breaks in the shade or in air conditioning.

If your clinician has told you to limit fluids, for example because of heart \
or kidney disease, ask how to stay safe in hot weather.

## Signs of dehydration and heat illness

Early signs of dehydration include thirst, a dry mouth, dark urine, headache \
and feeling tired or dizzy. Heavy sweating, cold and clammy skin, nausea, \
muscle cramps and weakness can signal heat exhaustion: move to a cooler place, \
loosen clothing, sip water and rest.

Heat stroke is a medical emergency. Call 911 or your local emergency number if \
someone has a very high body temperature, hot red skin, confusion, slurred \
speech or loses consciousness, and cool them down while you wait.

The CDC has more on [heat and health](https://www.cdc.gov/heat-health/).

## When to see a clinician

Get medical care if symptoms of heat exhaustion get worse or last longer than \
an hour, or if you cannot keep fluids down. Talk with a clinician before \
summer if you have a long-term condition or take medicines that affect fluid \
balance.
"""

_HYDRATION_2 = _revise(
    _HYDRATION_1,
    (
        "- Check your urine:",
        "- Check on older relatives and neighbors during heat waves.\n"
        "- Check your urine:",
    ),
)

# --- Sleep for shift workers (Occupational Health Nursing) -----------------

_SLEEP_1 = """\
Nurses, factory workers, drivers, first responders and many others work while \
most people sleep. Working nights or rotating shifts puts your schedule at \
odds with your body clock, which can make it hard to get enough good-quality \
sleep. Most adults need at least 7 hours of sleep in 24 hours, and shift \
workers often get less.

## Make your bedroom work for daytime sleep

- Block out light with blackout curtains or an eye mask.
- Reduce noise with earplugs, a fan or a white noise machine.
- Keep the room cool and comfortable.
- Put your phone on silent and let family or housemates know your sleep hours.

## Build a routine

1. Try to sleep at the same times each day, including some of your days off \
if you can.
2. Wind down before bed with a short, relaxing routine, even if bedtime is \
9 a.m.
3. If you cannot get a full block of sleep, a main sleep plus a planned nap \
can help.
4. A short nap of 20 to 30 minutes before a night shift can improve \
alertness.

## Light, caffeine and food

- Bright light during your shift can help you stay alert.
- On the way home after a night shift, wear sunglasses to limit morning light, \
which signals your body to wake up.
- Caffeine early in your shift can help, but avoid it in the last several \
hours before you plan to sleep.
- Eat light meals and snacks during the night rather than a large meal.
- Avoid alcohol as a sleep aid; it tends to make sleep lighter and more \
broken.

## Stay safe on the road

Drowsy driving is dangerous. If you feel very sleepy after a shift, take a \
short nap before driving, share a ride, or use public transport if you can.

Find more on healthy sleep at \
[MedlinePlus](https://medlineplus.gov/healthysleep.html) and from the \
[CDC](https://www.cdc.gov/sleep/).

## When to see a clinician

Talk with a clinician if you:

- have trouble sleeping or feel very sleepy on most days despite good sleep \
habits
- snore loudly or someone notices pauses in your breathing during sleep
- have nodded off while driving or at work
- are thinking about sleep medicines or melatonin, which may not suit everyone \
and can interact with other medicines

Some people develop shift work disorder, a condition a clinician can help \
diagnose and treat.
"""


# ---------------------------------------------------------------------------
# Articles
# ---------------------------------------------------------------------------

TARGET_STATES = (
    "draft",  # written, never submitted
    "submitted",  # submitted, no reviewer assigned yet
    "in_review",  # reviewer assigned, no decision on the current revision
    "changes_requested",  # reviewer signed "request changes"
    "approved",  # reviewer signed "approve"; not yet published
    "published",  # approved and published once
    "published_updating",  # published; a newer revision is in review
    "published_rereviewed",  # published, then re-reviewed and re-published unchanged
    "unpublished",  # was published, then taken down by an editor
)

ARTICLES: list[dict] = [
    {
        "key": "eczema-winter",
        "title": "Caring for Eczema-Prone Skin in Winter",
        "topic": "Dermatology",
        "writer": _MAREN,
        "target_state": "published_updating",
        "reviewer": _DERM,
        "revisions": [
            {"body": _ECZEMA_1, "note": "First draft"},
            {"body": _ECZEMA_2, "note": "Corrected recommended bath and shower length"},
            {"body": _ECZEMA_3, "note": "Added a section on using a humidifier"},
        ],
        "published_revision": 2,
        "annotations": [
            {
                "quote": "about 15 to 20 minutes",
                "comment": (
                    "Too long for eczema-prone skin. The usual advice is about "
                    "5 to 10 minutes in lukewarm water."
                ),
                "blocking": True,
                "resolved": True,
                "reply": "Changed to 5 to 10 minutes.",
            },
            {
                "quote": "within about three minutes",
                "comment": (
                    "Fine as written. 'Within a few minutes' would also be "
                    "acceptable if you prefer less precision."
                ),
                "blocking": False,
                "resolved": True,
                "reply": "Keeping three minutes; readers find it easy to remember.",
            },
        ],
        "change_notes": ["First published"],
    },
    {
        "key": "sunscreen-kids",
        "title": "Sun Protection for Children: Choosing and Using Sunscreen",
        "topic": "Dermatology",
        "writer": _MAREN,
        "target_state": "published_rereviewed",
        "reviewer": _DERM,
        "revisions": [
            {"body": _SUNSCREEN_1, "note": "First draft"},
            {
                "body": _SUNSCREEN_2,
                "note": "Added guidance on sunscreen for infants without shade",
            },
        ],
        "published_revision": 2,
        "annotations": [
            {
                "quote": "Keep babies younger than 6 months out of direct sunlight",
                "comment": (
                    "Please add what parents can do when shade and clothing "
                    "aren't enough: a small amount of sunscreen on small areas "
                    "is acceptable for young infants."
                ),
                "blocking": True,
                "resolved": True,
                "reply": "Added a sentence on this in revision 2.",
            },
            {
                "quote": "most people use too little",
                "comment": (
                    "Good that this avoids giving an exact amount for children; "
                    "please keep it that way."
                ),
                "blocking": False,
                "resolved": True,
            },
        ],
        "change_notes": [
            "First published",
            "Re-reviewed against current sun-safety guidance; no changes were needed",
        ],
    },
    {
        "key": "allergy-medicines",
        "title": "Choosing Medicines for Seasonal Allergies",
        "topic": "Pharmacology",
        "writer": _THEO,
        "target_state": "changes_requested",
        "reviewer": _PHARM,
        "revisions": [
            {"body": _ALLERGY_1, "note": "First draft"},
        ],
        "annotations": [
            {
                "quote": "Decongestant nasal sprays can be used for",
                "comment": (
                    "Incorrect and potentially harmful. Decongestant nasal "
                    "sprays such as oxymetazoline should not be used for more "
                    "than 3 days in a row; longer use can cause rebound "
                    "congestion. Please correct."
                ),
                "blocking": True,
                "resolved": False,
                "reply": "Thanks for catching this. I'll fix it in the next revision.",
            },
            {
                "quote": "Older antihistamines such as",
                "comment": (
                    "Suggestion: mention that cetirizine can also make some "
                    "people drowsy, even though it is a newer antihistamine."
                ),
                "blocking": False,
                "resolved": False,
            },
            {
                "quote": "never water straight from the tap",
                "comment": "Good, please keep this safety point.",
                "blocking": False,
                "resolved": True,
            },
        ],
        "request_changes_comment": (
            "One duration error must be fixed before I can approve: "
            "decongestant nasal sprays should be limited to 3 days (see my "
            "blocking annotation). The rest is accurate and well organized."
        ),
        "change_notes": [],
    },
    {
        "key": "acetaminophen-safety",
        "title": "Using Acetaminophen Safely",
        "topic": "Pharmacology",
        "writer": _THEO,
        "target_state": "published",
        "reviewer": _PHARM,
        "revisions": [
            {"body": _ACETAMINOPHEN_1, "note": "First draft"},
            {
                "body": _ACETAMINOPHEN_2,
                "note": "Children's dosing by weight; added note on lower label limits",
            },
        ],
        "published_revision": 2,
        "annotations": [
            {
                "quote": "Children's doses are based on age.",
                "comment": (
                    "Children's doses should be based on weight when it is "
                    "known; age is the fallback. Please reword."
                ),
                "blocking": True,
                "resolved": True,
                "reply": "Reworded to put weight first.",
            },
            {
                "quote": "not take more than 4,000 mg in 24 hours",
                "comment": (
                    "Suggest noting that many product labels set a lower daily "
                    "limit, such as 3,000 mg, and that people with liver "
                    "problems may need less."
                ),
                "blocking": False,
                "resolved": True,
                "reply": "Added right after this sentence.",
            },
        ],
        "change_notes": ["First published"],
    },
    {
        "key": "iron-rich-foods",
        "title": "Iron-Rich Foods and How to Absorb More Iron",
        "topic": "Nutrition and Dietetics",
        "writer": _MAREN,
        "target_state": "in_review",
        "reviewer": _DIET,
        "revisions": [
            {"body": _IRON_1, "note": "First draft"},
            {
                "body": _IRON_2,
                "note": "Corrected iron needs for women 19-50; reworded spinach line",
            },
        ],
        "annotations": [
            {
                "quote": "women aged 19 to 50 need about 8 mg a day",
                "comment": "This should be 18 mg a day for women aged 19 to 50.",
                "blocking": True,
                "resolved": True,
                "reply": "Corrected in revision 2, thank you.",
            },
            {
                # Left open; the sentence was rewritten in revision 2, so the
                # annotation shows as orphaned.
                "quote": "Spinach is the best source of iron you can eat.",
                "comment": (
                    "This overstates it: the iron in spinach is poorly "
                    "absorbed. Consider rewording or removing."
                ),
                "blocking": False,
                "resolved": False,
                "orphaned": True,
                "reply": "I rewrote this line in revision 2. Does it work now?",
            },
            {
                "quote": "Keep iron tablets out of children's reach",
                "comment": (
                    "Good. Could you also mention that children's vitamins "
                    "with iron count too?"
                ),
                "blocking": False,
                "resolved": False,
            },
        ],
        "change_notes": [],
    },
    {
        "key": "heart-healthy-breakfast",
        "title": "Building a Heart-Healthy Breakfast",
        "topic": "Nutrition and Dietetics",
        "writer": _THEO,
        "target_state": "approved",
        "reviewer": _DIET,
        "revisions": [
            {"body": _BREAKFAST_1, "note": "First draft"},
            {
                "body": _BREAKFAST_2,
                "note": "Fixed LDL/HDL mix-up; added pharmacist tip on grapefruit",
            },
        ],
        "annotations": [
            {
                "quote": "which can help lower HDL cholesterol",
                "comment": (
                    "Soluble fiber helps lower LDL cholesterol, not HDL. "
                    "Please correct."
                ),
                "blocking": True,
                "resolved": True,
                "reply": "Fixed, and I added 'bad' in brackets for readers.",
            },
            {
                "quote": "Some foods, such as grapefruit",
                "comment": (
                    "Good point. Consider adding that readers can ask their "
                    "pharmacist about food interactions."
                ),
                "blocking": False,
                "resolved": True,
                "reply": "Added.",
            },
        ],
        "change_notes": [],
    },
    {
        "key": "hand-foot-mouth",
        "title": "Hand, Foot and Mouth Disease in Young Children",
        "topic": "Pediatrics",
        "writer": _MAREN,
        "target_state": "unpublished",
        "reviewer": _PEDS,
        "revisions": [
            {"body": _HFMD_1, "note": "First draft"},
            {
                "body": _HFMD_2,
                "note": "Fever threshold now 3 days; added note on hand sanitizer",
            },
        ],
        "published_revision": 2,
        "annotations": [
            {
                "quote": "a fever that lasts more than 5 days",
                "comment": (
                    "Please use 3 days, in line with our other pediatric "
                    "fever advice."
                ),
                "blocking": True,
                "resolved": True,
                "reply": "Changed to 3 days.",
            },
            {
                "quote": "Wash hands often with soap and water",
                "comment": (
                    "Suggest adding that hand sanitizer may not work as well "
                    "as soap and water against these viruses."
                ),
                "blocking": False,
                "resolved": True,
                "reply": "Added after the first sentence of this section.",
            },
        ],
        "change_notes": ["First published"],
        "unpublish_reason": (
            "Temporarily unpublished while the advice on returning to child "
            "care is checked against updated local health department guidance."
        ),
    },
    {
        "key": "hydration-heat",
        "title": "Staying Hydrated in Hot Weather",
        "topic": "Occupational Health Nursing",
        "writer": _THEO,
        "target_state": "draft",
        "reviewer": None,
        "revisions": [
            {"body": _HYDRATION_1, "note": "First draft"},
            {"body": _HYDRATION_2, "note": "Added a tip on older relatives"},
        ],
        "annotations": [],
        "change_notes": [],
    },
    {
        # Waits in "submitted": the only Occupational Health Nursing reviewer
        # has an expired licence, so the editor cannot assign him (409).
        "key": "shift-work-sleep",
        "title": "Sleep Tips for Shift Workers",
        "topic": "Occupational Health Nursing",
        "writer": _MAREN,
        "target_state": "submitted",
        "reviewer": None,
        "revisions": [
            {"body": _SLEEP_1, "note": "First draft"},
        ],
        "annotations": [],
        "change_notes": [],
    },
]


# ---------------------------------------------------------------------------
# Review checklist
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------
#
# ``SOURCES``: per article key, the footnotes its text cites, as (key, citation) pairs. The seeder
# cites source i at the end of the i-th paragraph of prose (not a heading, list item or a line
# ending with ":") of every revision, and appends the definitions. The citations name public-health
# bodies and link to their public sites; the wording is written for the demo, not copied.
# ``SOURCE_UPDATES``: per article key, a revision number (1-based) from which a source's citation
# reads differently, so its earlier verdict no longer stands and the reviewer is asked again.
# ``SOURCE_VERDICTS``: per article key, verdicts the reviewer gives besides the ``supports`` that
# approval needs: (key, verdict, comment). ``SOURCE_FLAGS``: live sources an editor flags as outdated.

SOURCES: dict[str, list[tuple[str, str]]] = {
    "eczema-winter": [
        ("nea-bathing", "National Eczema Association, \u201cBathing and moisturizing\u201d, patient guidance "
                        "page, consulted 2026. https://nationaleczema.org/"),
        ("aad-winter", "American Academy of Dermatology Association, \u201cEczema: tips for managing "
                       "flares in cold weather\u201d, consulted 2026. https://www.aad.org/"),
    ],
    "sunscreen-kids": [
        ("cdc-sun", "U.S. Centers for Disease Control and Prevention, \u201cSun safety\u201d, skin cancer "
                    "prevention pages, consulted 2026. https://www.cdc.gov/skin-cancer/"),
        ("aap-sun", "American Academy of Pediatrics, HealthyChildren.org, \u201cSun safety for "
                    "children\u201d, consulted 2026. https://www.healthychildren.org/"),
    ],
    "allergy-medicines": [
        ("fda-antihist", "U.S. Food and Drug Administration, consumer information on over-the-counter "
                         "allergy medicines, consulted 2026. https://www.fda.gov/consumers"),
        ("aaaai-rhinitis", "American Academy of Allergy, Asthma & Immunology, \u201cRhinitis (hay "
                           "fever)\u201d, patient conditions library, consulted 2026. https://www.aaaai.org/"),
    ],
    "acetaminophen-safety": [
        ("fda-acet", "U.S. Food and Drug Administration, \u201cUse caution with pain relievers\u201d, "
                     "consumer update on acetaminophen, consulted 2026. https://www.fda.gov/consumers"),
        ("poison-help", "Poison Help line, U.S. Health Resources and Services Administration, "
                        "consulted 2026. https://www.poisonhelp.hrsa.gov/"),
    ],
    "iron-rich-foods": [
        ("ods-iron", "NIH Office of Dietary Supplements, \u201cIron: fact sheet for consumers\u201d, "
                     "consulted 2026. https://ods.od.nih.gov/factsheets/Iron-Consumer/"),
        ("who-anaemia", "World Health Organization, \u201cAnaemia\u201d, fact sheet, 2023 edition. "
                        "https://www.who.int/news-room/fact-sheets/detail/anaemia"),
        ("usda-dga", "U.S. Department of Agriculture and Department of Health and Human Services, "
                     "Dietary Guidelines for Americans, 2020\u20132025. https://www.dietaryguidelines.gov/"),
    ],
    "heart-healthy-breakfast": [
        ("aha-fiber", "American Heart Association, \u201cWhole grains, refined grains and dietary "
                      "fiber\u201d, consulted 2026. https://www.heart.org/"),
        ("nhs-eatwell", "NHS, \u201cThe Eatwell Guide\u201d, consulted 2026. https://www.nhs.uk/live-well/eat-well/"),
    ],
    "hand-foot-mouth": [
        ("cdc-hfmd", "U.S. Centers for Disease Control and Prevention, \u201cHand, foot, and mouth "
                     "disease\u201d, consulted 2026. https://www.cdc.gov/hand-foot-mouth/"),
        ("nhs-hfmd", "NHS, \u201cHand, foot and mouth disease\u201d, consulted 2026. "
                     "https://www.nhs.uk/conditions/hand-foot-mouth-disease/"),
    ],
    "hydration-heat": [
        ("cdc-heat", "U.S. Centers for Disease Control and Prevention, \u201cHeat and health\u201d, "
                     "consulted 2026. https://www.cdc.gov/heat-health/"),
        ("osha-heat", "U.S. Occupational Safety and Health Administration, \u201cHeat\u201d, worker "
                      "safety topic pages, consulted 2026. https://www.osha.gov/heat-exposure"),
    ],
    "shift-work-sleep": [
        ("niosh-shift", "U.S. National Institute for Occupational Safety and Health, \u201cWork "
                        "schedules: shift work and long hours\u201d, consulted 2026. https://www.cdc.gov/niosh/"),
        ("aasm-sleep", "American Academy of Sleep Medicine, patient resources on shift work disorder, "
                       "consulted 2026. https://sleepeducation.org/"),
    ],
}

SOURCE_UPDATES: dict[str, dict[int, dict[str, str]]] = {
    # The update under review cites the newer edition of one guideline: asked again.
    "eczema-winter": {3: {"aad-winter": "American Academy of Dermatology Association, \u201cEczema: "
                                        "tips for managing flares in cold weather\u201d, revised "
                                        "edition, consulted 2026. https://www.aad.org/public/diseases/eczema"}},
}

SOURCE_VERDICTS: dict[str, list[tuple[str, str, str]]] = {
    "iron-rich-foods": [
        ("ods-iron", "supports", ""),
        ("who-anaemia", "outdated", "WHO updated this fact sheet after 2023; cite the current edition."),
    ],
    "allergy-medicines": [
        ("aaaai-rhinitis", "supports", ""),
        ("fda-antihist", "does_not_support",
         "The FDA page does not compare drowsiness between first- and second-generation antihistamines; "
         "cite a source that does."),
    ],
}

SOURCE_FLAGS: dict[str, list[tuple[str, str]]] = {
    "acetaminophen-safety": [
        ("fda-acet", "FDA replaced this consumer update with a new page on combination cold medicines; "
                     "check the dosing advice against it."),
    ],
}


# ---------------------------------------------------------------------------
# Self-check: python3 reviewflow/demo_content.py
# ---------------------------------------------------------------------------

if __name__ == "__main__":
    _ROLES = {"writer", "reviewer", "editor", "admin"}
    _REVIEWER_KEYS = {
        "credentials", "specialty", "license_number", "license_jurisdiction",
        "license_expires", "affiliation", "organization",
    }
    _PUBLISHED_NOTES = {
        "published": 1,
        "published_updating": 1,
        "published_rereviewed": 2,
        "unpublished": 1,
    }
    _NO_OPEN_BLOCKING = {"approved", *_PUBLISHED_NOTES}

    people = {p["email"]: p for p in PEOPLE}
    assert len(people) == len(PEOPLE), "duplicate email"
    for p in PEOPLE:
        assert p["email"].endswith("@example.org"), p["email"]
        assert p["password"] == DEMO_PASSWORD
        assert p["roles"] and set(p["roles"]) <= _ROLES, p["email"]
        assert p["bio"], p["email"]
        if "reviewer" in p["roles"]:
            assert p.keys() >= _REVIEWER_KEYS, p["email"]
    reviewers = [p for p in PEOPLE if "reviewer" in p["roles"]]
    expired = [p for p in reviewers if p["license_expires"] < "2026-01-01"]
    assert [p["license_expires"] for p in expired] == ["2025-06-30"]
    current = [p for p in reviewers if p not in expired]
    assert all("2028" <= p["license_expires"] < "2031" for p in current)
    assert len({p["specialty"] for p in reviewers}) == len(reviewers) == 5
    for role, count in {"writer": 2, "editor": 2, "admin": 1}.items():
        assert sum(role in p["roles"] for p in PEOPLE) == count, role

    keys = [a["key"] for a in ARTICLES]
    assert len(set(keys)) == len(keys), "duplicate article key"
    for a in ARTICLES:
        k, state = a["key"], a["target_state"]
        assert state in TARGET_STATES, k
        assert "writer" in people[a["writer"]]["roles"], k
        if state in ("draft", "submitted"):
            assert a["reviewer"] is None, k
        else:
            rv = people[a["reviewer"]]
            assert "reviewer" in rv["roles"], k
            assert rv["specialty"] == a["topic"], k
            assert rv not in expired, k
            assert rv["email"] != a["writer"], k
        assert any(p["specialty"] == a["topic"] for p in reviewers), k

        bodies = [r["body"] for r in a["revisions"]]
        assert 1 <= len(bodies) <= 3 and all(r["note"] for r in a["revisions"]), k
        for i, body in enumerate(bodies):
            words = len(body.split())
            assert 250 <= words <= 500, (k, i + 1, words)
            for marker in ("## ", "\n- ", "## When to see a clinician", "](https://"):
                assert marker in body, (k, i + 1, marker)
            assert "clinician" in body.split("## When to see a clinician")[1], k
            if i:
                assert body != bodies[i - 1], (k, i + 1, "revision unchanged")

        first, last = bodies[0], bodies[-1]
        for ann in a["annotations"]:
            q = ann["quote"]
            assert 6 <= len(q) <= 60, (k, q)
            assert first.count(q) == 1, (k, q, "not exactly once in revision 1")
            assert ann["comment"] and isinstance(ann["blocking"], bool), (k, q)
            assert isinstance(ann["resolved"], bool), (k, q)
            if ann.get("orphaned"):
                assert q not in last and not ann["resolved"], (k, q)
            else:
                assert q in last or ann["resolved"], (k, q, "unexpectedly orphaned")
        open_blocking = [
            n for n in a["annotations"] if n["blocking"] and not n["resolved"]
        ]
        if state == "changes_requested":
            assert open_blocking and a["request_changes_comment"], k
        if state in _NO_OPEN_BLOCKING:
            assert not open_blocking, k

        assert len(a["change_notes"]) == _PUBLISHED_NOTES.get(state, 0), k
        if state in _PUBLISHED_NOTES:
            pr = a["published_revision"]
            expected = len(bodies) - 1 if state == "published_updating" else len(bodies)
            assert pr == expected, k
        else:
            assert "published_revision" not in a, k
        assert ("unpublish_reason" in a) == (state == "unpublished"), k

    assert {a["target_state"] for a in ARTICLES} == set(TARGET_STATES)

    for a in ARTICLES:
        counts = ", ".join(str(len(r["body"].split())) for r in a["revisions"])
        print(f"{a['key']:<26} {a['target_state']:<22} words: {counts}")
    print(f"OK: {len(PEOPLE)} people, {len(ARTICLES)} articles")
