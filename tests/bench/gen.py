"""Benchmark data: N stores and N customers from a fixed seed, the same bytes on every run.

Shaped like the TWIGZ collections after a few years of schema drift:
- _id values are ObjectIds whose timestamps grow with the document number, so _id order is
  creation order, as it is in a collection that was filled over time; documents are inserted in
  that order.
- Half the customers carry one of a few hundred popular names drawn from a Zipf distribution, in
  several spellings that reduce to one username base, so thousands of customers share a base
  (john, john1, ..., john4000). The rest are first/last combinations, non-Latin, empty, missing or
  non-string names, names with diacritics and very long names.
- Some customers already hold usernames, among them popular bases with gaps (john, john2, john5,
  ...) that assignment has to skip; some hold falsy usernames (null, "", false, 0) that count as
  missing.
- Some documents already have the backfilled fields (kept as they are, null included).

Run as a program it loads one database: gen.py --n 10000 --uri mongodb://... --database bench.
"""
import argparse
import bisect
import datetime
import random
import struct
import sys
import time

from bson import ObjectId

SEED = 20240601

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle
Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward
Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley
Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha
Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack
Catherine Dennis Maria Jerry Heather Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry
Virginia Douglas Victoria Zachary Kelly Peter Lauren Kyle Christina Ethan Joan Walter Evelyn Noah
Judith Jeremy Megan Christian Andrea Keith Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold
Gloria Sean Teresa Austin Ann Carl Sophia Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice
Jordan Jean Bryan Abigail Billy Alice Joe Julia Bruce Judy Gabriel Sophie Logan Grace Albert Denise
Willie Amber Alan Doris Juan Marilyn Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent
Diana Ralph Natalie Eugene Brittany Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis
Lori Amara Chidi Wei Mei Hiroshi Yuki Priya Arjun Fatima Omar Lucas Chloe Mateo Camila Leon Mila
Finn Ava Noor Zainab Tomasz Agnieszka Sven Ingrid Pierre Amelie Giulia Marco Hugo Ines""".split()

LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez
Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green
Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz
Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan
Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood
James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster
Jimenez Okafor Tanaka Suzuki Kowalski Nowak Dubois Rossi Bianchi Schmidt Muller Fischer Weber Larsen
Hansen Johansson Silva Santos Costa Oliveira Pereira Ferreira Novak Horvat Ivanova Petrov Haddad
Khan Ali Hussain Chen Wang Zhang Liu Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin""".split()

# Names a JavaScript driver lowercases and strips to exactly what Python does (no base uses a
# character whose lowercase differs between the two); most reduce to "user".
NON_LATIN = ["李小龙", "王芳", "张伟", "山田太郎", "さくら", "Владимир", "Анна Петрова", "Ольга",
             "محمد", "فاطمة الزهراء", "Γιώργος", "Ελένη", "राहुल", "प्रिया", "김민준", "이서연",
             "Дмитрий 2", "אברהם", "ศรีสุดา", "Nguyễn Văn An"]
ODD = ["José Álvarez", "Zoë", "Renée", "Çağla", "İlker", "\u212aelvin", "O'Brien", "Mary-Jane",
       "Jean-Luc Picard", "Anne-Marie", "D'Angelo", "Mc Donald", "😀 Smile", "Ana María",
       "Søren Kierkegaard", "Łukasz", "Đorđe", "Åsa", "Ñoño", "Jürgen Müller"]
EMPTY = ["", " ", "   ", "-", "...", "🙂", "\t"]
CITIES = ["Paris", "Lyon", "Berlin", "Madrid", "Lisbon", "Austin", "Toronto", "Lagos", "Nairobi",
          "Osaka", "Seoul", "Mumbai", "Dubai", "Sydney", "Mexico City", "Sao Paulo", "Warsaw"]
STORE_WORDS = ["Golden", "Green", "Urban", "Little", "Happy", "Blue", "Corner", "Royal", "Sunny",
               "Old Town", "Fresh", "Wild", "Silver", "North", "Harbor", "Maple"]
STORE_KINDS = ["Bakery", "Books", "Florist", "Coffee", "Market", "Grocer", "Tailor", "Bikes",
               "Pharmacy", "Deli", "Hardware", "Boutique", "Kitchen", "Studio", "Barbers"]
TAGS = ["delivery", "pickup", "organic", "vegan", "late", "card", "cash", "parking", "wifi"]

START = datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc)
SPAN_S = 3 * 365 * 86400


def object_ids(n, machine, rng):
    """n ascending ObjectIds: timestamps spread over three years, then 5 fixed bytes, then a counter."""
    base = int(START.timestamp())
    rnd = bytes(rng.randrange(256) for _ in range(5))
    return [ObjectId(struct.pack(">I", base + i * SPAN_S // max(n, 1)) + rnd +
                     struct.pack(">I", (machine << 20) + i)[1:]) for i in range(n)]


def popular_names(rng):
    """A few hundred popular names, each with the spellings people type (all with one base)."""
    names = []
    for first in FIRST[:220]:
        names.append([first, first.lower(), first.upper(), f" {first} ", f"{first}."])
    for first, last in zip(FIRST[220:], LAST[:80]):
        names.append([f"{first} {last}", f"{first.lower()} {last.lower()}", f"{first}-{last}"])
    return names


def zipf_cum_weights(k, s=1.07):
    total, cum = 0.0, []
    for rank in range(1, k + 1):
        total += 1.0 / rank ** s
        cum.append(total)
    return cum


def stores(n, seed=SEED):
    rng = random.Random(seed * 7919 + n)
    ids = object_ids(n, 1, rng)
    docs = []
    for i, _id in enumerate(ids):
        created = START + datetime.timedelta(seconds=i * SPAN_S // max(n, 1))
        d = {"_id": _id,
             "name": f"{rng.choice(STORE_WORDS)} {rng.choice(STORE_KINDS)} {i}",
             "ownerId": f"user_{rng.randrange(n * 2 + 1):08d}",
             "city": rng.choice(CITIES),
             "address": {"street": f"{rng.randrange(1, 300)} {rng.choice(LAST)} Street",
                         "postcode": f"{rng.randrange(10000, 99999)}"},
             "phoneNumber": f"+{rng.randrange(1, 99)} {rng.randrange(100000000, 999999999)}",
             "tags": rng.sample(TAGS, rng.randrange(0, 4)),
             "rating": round(rng.uniform(1, 5), 1),
             "createdAt": created}
        r = rng.random()
        if r < 0.25:
            d["status"] = rng.choice(["active", "active", "closed", "suspended"])
        elif r < 0.30:
            d["status"] = "pending"
        elif r < 0.33:
            d["status"] = None  # present: kept
        r = rng.random()
        if r < 0.30:
            d["phoneNumberVerified"] = rng.random() < 0.7
        elif r < 0.33:
            d["phoneNumberVerified"] = None  # present: kept
        docs.append(d)
    return docs


def customers(n, seed=SEED):
    rng = random.Random(seed * 104729 + n)
    ids = object_ids(n, 2, rng)
    popular = popular_names(rng)
    cum = zipf_cum_weights(len(popular))
    docs = []
    for i, _id in enumerate(ids):
        created = START + datetime.timedelta(seconds=i * SPAN_S // max(n, 1))
        d = {"_id": _id}
        r = rng.random()
        if r < 0.50:
            spellings = popular[bisect.bisect_left(cum, rng.random() * cum[-1])]
            d["name"] = rng.choice(spellings)
        elif r < 0.85:
            d["name"] = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        elif r < 0.90:
            d["name"] = rng.choice(NON_LATIN)
        elif r < 0.93:
            d["name"] = rng.choice(ODD)
        elif r < 0.95:
            d["name"] = rng.choice(EMPTY)
        elif r < 0.97:
            pass  # no name at all
        elif r < 0.98:
            d["name"] = rng.choice([None, 42, ["Ann", "Lee"], {"first": "Ann"}, True, 3.5])
        else:
            # very long: a pasted paragraph, or a long run of one letter
            if rng.random() < 0.5:
                d["name"] = " ".join(rng.choice(FIRST) for _ in range(rng.randrange(100, 600)))
            else:
                d["name"] = rng.choice("abcxyz") * rng.randrange(1000, 5000)
        d["email"] = f"customer{i}@example.{rng.choice(['com', 'org', 'net'])}"
        d["phone"] = f"+{rng.randrange(1, 99)} {rng.randrange(100000000, 999999999)}"
        d["city"] = rng.choice(CITIES)
        d["loyaltyPoints"] = rng.randrange(0, 5000)
        d["marketingOptIn"] = rng.random() < 0.4
        d["createdAt"] = created
        r = rng.random()
        if r < 0.06:
            d["username"] = rng.choice([None, "", False, 0])  # falsy: still to be assigned
        elif r < 0.16:
            d["username"] = f"member{i}"  # unique, untouched
        r = rng.random()
        if r < 0.25:
            d["isPrivate"] = rng.random() < 0.5
        elif r < 0.28:
            d["isPrivate"] = None  # present: kept
        docs.append(d)
    take_usernames_with_gaps(docs, popular, rng)
    return docs


def take_usernames_with_gaps(docs, popular, rng):
    """Gives popular bases taken usernames with gaps (john, john2, john5, ...) on customers whose
    own name is unrelated, so the assigner must skip them."""
    gaps = [0, 2, 5, 9, 17, 33, 100, 257]
    candidates = [d for d in docs if "username" not in d and isinstance(d.get("name"), str)
                  and " " in d["name"]]
    rng.shuffle(candidates)
    it = iter(candidates)
    for spellings in popular[:30]:
        base = "".join(c for c in spellings[0].lower() if c.isascii() and c.isalnum())[:12]
        for k in gaps:
            doc = next(it, None)
            if doc is None:
                return
            doc["username"] = base if k == 0 else f"{base}{k}"


def generate(n, seed=SEED):
    return stores(n, seed), customers(n, seed)


def load(db, store_docs, customer_docs, batch=10000):
    """Loads both collections into db (dropped first) with big unordered insert_many batches."""
    for name, docs in (("stores", store_docs), ("customers", customer_docs)):
        db.drop_collection(name)
        coll = db[name]
        for start in range(0, len(docs), batch):
            coll.insert_many(docs[start:start + batch], ordered=False)


def main(argv=None):
    import pymongo
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--uri", required=True)
    ap.add_argument("--database", default="bench")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    s, c = generate(args.n, args.seed)
    t1 = time.monotonic()
    with pymongo.MongoClient(args.uri) as client:
        load(client[args.database], s, c)
    print(f"generated {args.n}+{args.n} in {t1 - t0:.1f}s, loaded in {time.monotonic() - t1:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
