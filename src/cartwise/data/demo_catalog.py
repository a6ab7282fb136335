"""Catalog of the demo store (:mod:`cartwise.data.demo`): text tables and the item builder.

The tables hold categories with brands, model lines, features, attributes, price ranges and text
templates, the phone models, and the accessories that are made for one phone model. Brand and
model names are real-looking so that language models have something to read; the products,
prices and everything shoppers do with them are synthetic. :func:`build_catalog` turns the tables
into items, deterministically from a numpy Generator.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from cartwise.data.schema import Item
from cartwise.errors import ConfigError

Brand = tuple[str, float, tuple[str, ...]]
"""(brand, price factor, model lines); a line may hold ``{n}``, ``{a}`` and ``{b}`` slots."""

COLOURS = ("Black", "White", "Grey", "Navy Blue", "Red", "Green", "Beige", "Pink")


@dataclass(frozen=True)
class Category:
    """One leaf category of the demo catalog.

    Attributes:
        key: short identifier (``running_shoes``).
        path: category path, most general first; the last element is unique across categories.
        noun: what shoppers type for it (``running shoes``).
        weight: relative number of products.
        price: typical (low, high) price in USD.
        brands: brands with their price factor and model lines.
        facets: feature words used in titles, descriptions and search queries.
        title: title template (slots: brand, model, Facet, facet, colour and any attribute).
        blurb: description template (same slots, plus facet2).
        attrs: extra attributes (name, possible values).
        colours: colours to pick from; empty for products without colour.
        numbers: range of the ``{n}`` slot in model lines.
        words: values of the ``{a}`` and ``{b}`` slots in model lines.
        primary: whether it can be one of a shopper's preferred categories.
    """

    key: str
    path: tuple[str, ...]
    noun: str
    weight: float
    price: tuple[float, float]
    brands: tuple[Brand, ...]
    facets: tuple[str, ...]
    title: str
    blurb: str
    attrs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    colours: tuple[str, ...] = COLOURS
    numbers: tuple[int, int] = (1, 9)
    words: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    primary: bool = True

    @property
    def leaf(self) -> str:
        """Last element of the path, the name tests and tastes use."""
        return self.path[-1]


# The tables below are kept in rows for reading; the formatter would put one value per line.
# fmt: off
_TITLES_A = ("Silent", "Last", "Hidden", "Burning", "Quiet", "Winter", "Golden", "Broken",
             "Distant", "Secret", "Wild", "Midnight", "Glass", "Paper", "Iron", "Salt")
_TITLES_B = ("Harbour", "Garden", "River", "Orchard", "Lighthouse", "Archive", "Kingdom",
             "Station", "Summer", "Mountain", "Island", "Library", "Forest", "Crown")
_AUTHORS = ("Anna Lindqvist", "James Okafor", "Maria Castellano", "Tom Becker", "Priya Raman",
            "Elena Novak", "David Moreau", "Sofia Petrova", "Liam Gallagher", "Yuki Tanaka",
            "Hannah Weiss", "Marco Bianchi", "Grace Mensah", "Oliver Hart", "Chloe Dubois")
_DISHES = ("Pasta", "Baking", "Vegetables", "Noodles", "Bread", "Curry", "Salads", "Soups",
           "Grilling", "Desserts", "Tacos", "Dumplings")
_COOK_B = ("at Home", "for Every Day", "Made Simple", "in 30 Minutes", "the Italian Way",
           "for Beginners", "from Scratch", "for Two")

CATEGORIES: tuple[Category, ...] = (
    Category(
        "cameras", ("Electronics", "Cameras"), "camera", 5, (350, 2500),
        (("Sony", 1.2, ("Alpha a{n}00", "ZV-E{n}")), ("Canon", 1.1, ("EOS R{n}", "PowerShot G{n}")),
         ("Nikon", 1.1, ("Z{n}", "Z f{n}")), ("Fujifilm", 1.0, ("X-T{n}", "X-S{n}0")),
         ("Panasonic", 0.9, ("Lumix G{n}", "Lumix S{n}")), ("Olympus", 0.8, ("OM-D E-M{n}",))),
        ("mirrorless", "4K video", "compact", "weather-sealed", "vlogging", "full-frame"),
        "{brand} {model} {Facet} Camera, {colour}",
        "The {brand} {model} is a {facet} digital camera with a {sensor} sensor and {facet2} "
        "design. It records to {card_format} cards. Colour: {colour}.",
        (("sensor", ("24 MP APS-C", "33 MP full-frame", "20 MP Micro Four Thirds", "45 MP")),
         ("card_format", ("SD", "microSD", "CFexpress"))),
        ("Black", "Silver"), (3, 9),
    ),
    Category(
        "memory_cards", ("Electronics", "Camera Accessories", "Memory Cards"), "memory card", 3,
        (12, 180),
        (("SanDisk", 1.1, ("Extreme", "Extreme PRO", "Ultra")),
         ("Samsung", 1.0, ("PRO Plus", "EVO")),
         ("Lexar", 0.9, ("Professional {n}000x", "Play")), ("Kingston", 0.8, ("Canvas Go! Plus",)),
         ("ProGrade", 1.3, ("Digital Gold", "Cobalt"))),
        ("high-speed", "V30", "waterproof", "UHS-II", "4K-ready"),
        "{brand} {model} {capacity} {card_format} Memory Card, {Facet}",
        "{brand} {model} {card_format} card with {capacity} capacity: {facet} and {facet2}, "
        "fast enough for 4K video and burst photos.",
        (("capacity", ("64GB", "128GB", "256GB", "512GB", "1TB")),
         ("card_format", ("SD", "microSD", "CFexpress"))),
        (), (1, 2), primary=False,
    ),
    Category(
        "headphones", ("Electronics", "Audio", "Headphones"), "headphones", 8, (25, 450),
        (("Sony", 1.2, ("WH-1000XM{n}", "WF-C{n}00", "WH-CH{n}20")),
         ("Bose", 1.3, ("QuietComfort {n}0",)),
         ("Sennheiser", 1.2, ("Momentum {n}", "HD {n}50")),
         ("JBL", 0.8, ("Tune {n}10BT", "Live {n}60")),
         ("Anker", 0.6, ("Soundcore Life Q{n}0",)),
         ("Apple", 1.4, ("AirPods Max", "AirPods Pro {n}"))),
        ("wireless", "noise cancelling", "over-ear", "bluetooth", "sports", "studio"),
        "{brand} {model} {Facet} Headphones, {colour}",
        "{Facet} headphones from {brand} with up to {battery} battery life. Also {facet2}. "
        "Colour: {colour}.",
        (("battery", ("20 hours", "30 hours", "40 hours", "60 hours")),),
        ("Black", "White", "Silver", "Midnight Blue"), (2, 5),
    ),
    Category(
        "smartwatches", ("Electronics", "Wearables", "Smartwatches"), "smartwatch", 5, (90, 800),
        (("Garmin", 1.2, ("Forerunner {n}55", "Venu {n}", "Fenix {n}")),
         ("Apple", 1.3, ("Watch Series {n}",)),
         ("Samsung", 1.0, ("Galaxy Watch{n}",)), ("Fitbit", 0.7, ("Versa {n}", "Sense {n}")),
         ("Amazfit", 0.5, ("GTR {n}", "Bip {n}"))),
        ("GPS", "heart rate", "waterproof", "sleep tracking", "running", "LTE"),
        "{brand} {model} {Facet} Smartwatch, {size}, {colour}",
        "A {facet} smartwatch by {brand} with {facet2} features and a {size} case. "
        "Colour: {colour}.",
        (("size", ("41mm", "44mm", "45mm", "47mm")),), ("Black", "Silver", "Rose Gold", "Green"),
        (2, 9),
    ),
    Category(
        "laptops", ("Computers", "Laptops"), "laptop", 6, (400, 2800),
        (("Apple", 1.4, ("MacBook Air M{n}", "MacBook Pro M{n}")),
         ("Dell", 1.0, ("XPS {n}3", "Inspiron {n}5")),
         ("Lenovo", 0.9, ("ThinkPad X1 Carbon Gen {n}", "IdeaPad Slim {n}")),
         ("HP", 0.9, ("Spectre x360 {n}", "Pavilion {n}5")),
         ("ASUS", 0.9, ("ZenBook {n}4", "ROG Zephyrus G{n}4")),
         ("Acer", 0.7, ("Swift {n}", "Aspire {n}"))),
        ("lightweight", "gaming", "2-in-1", "business", "long battery", "OLED"),
        "{brand} {model} {screen_size} {Facet} Laptop, {memory} RAM, {colour}",
        "{Facet} {screen_size} laptop from {brand} with {memory} of memory and a {storage} SSD; "
        "{facet2}. Colour: {colour}.",
        (("screen_size", ("13.3 inch", "14 inch", "15.6 inch", "16 inch")),
         ("memory", ("8GB", "16GB", "32GB")), ("storage", ("256GB", "512GB", "1TB"))),
        ("Silver", "Space Grey", "Black"), (1, 5),
    ),
    Category(
        "laptop_bags", ("Computers", "Accessories", "Laptop Bags"), "laptop bag", 4, (20, 160),
        (("Targus", 0.8, ("CityLite", "Newport")), ("Incase", 1.1, ("Icon", "City Compact")),
         ("Samsonite", 1.2, ("Xenon {n}", "Pro-DLX {n}")), ("Tomtoc", 0.9, ("A{n}0 Sleeve",)),
         ("Peak Design", 1.4, ("Everyday Messenger",))),
        ("water-resistant", "slim", "padded", "backpack", "messenger", "leather"),
        "{brand} {model} {Facet} Laptop Bag for {screen_size} Laptops, {colour}",
        "A {facet} laptop bag that fits laptops up to {screen_size}, made of {material}; "
        "{facet2}. Colour: {colour}.",
        (("screen_size", ("13.3 inch", "14 inch", "15.6 inch", "16 inch")),
         ("material", ("nylon", "recycled polyester", "canvas", "leather"))),
        COLOURS, (1, 5), primary=False,
    ),
    Category(
        "keyboards", ("Computers", "Accessories", "Keyboards"), "keyboard", 4, (20, 220),
        (("Logitech", 1.0, ("MX Keys", "K{n}80", "G{n}15")),
         ("Keychron", 1.1, ("K{n} Pro", "Q{n}")),
         ("Razer", 1.2, ("BlackWidow V{n}", "Huntsman Mini")),
         ("Microsoft", 0.8, ("Ergonomic Keyboard",)),
         ("Corsair", 1.1, ("K{n}0 RGB",))),
        ("mechanical", "wireless", "ergonomic", "backlit", "compact", "gaming"),
        "{brand} {model} {Facet} Keyboard, {layout}, {colour}",
        "{Facet} keyboard by {brand} in {layout} layout; {facet2}. Colour: {colour}.",
        (("layout", ("US", "UK", "German", "Nordic")),), ("Black", "White", "Grey"), (2, 8),
    ),
    Category(
        "running_shoes", ("Sports", "Running", "Running Shoes"), "running shoes", 8, (50, 220),
        (("Brooks", 1.0, ("Ghost {n}", "Adrenaline GTS {n}")),
         ("Nike", 1.1, ("Pegasus {n}", "Vomero {n}")),
         ("ASICS", 1.0, ("Gel-Nimbus {n}", "Novablast {n}")),
         ("Hoka", 1.2, ("Clifton {n}", "Speedgoat {n}")),
         ("Salomon", 1.1, ("Speedcross {n}", "Sense Ride {n}")),
         ("New Balance", 0.9, ("Fresh Foam 1080v{n}",))),
        ("waterproof", "cushioned", "lightweight", "stability", "wide", "breathable"),
        "{brand} {model} {Facet} {terrain} Running Shoes, {colour}, Size {size}",
        "{Facet} {terrain} running shoes from {brand} with a {material} upper; {facet2}. "
        "Colour: {colour}.",
        (("terrain", ("road", "trail")), ("size", ("7", "8", "9", "10", "11", "12")),
         ("material", ("engineered mesh", "knit", "GORE-TEX"))),
        COLOURS, (4, 14),
    ),
    Category(
        "sports_socks", ("Sports", "Clothing", "Sports Socks"), "running socks", 4, (8, 30),
        (("Balega", 1.0, ("Hidden Comfort", "Blister Resist")),
         ("Darn Tough", 1.3, ("Run No Show", "Hiker")),
         ("Stance", 1.1, ("Run Light", "Performance Crew")),
         ("Injinji", 1.0, ("Run Lightweight Toesocks",)),
         ("Nike", 0.8, ("Everyday Cushioned", "Spark Lightweight"))),
        ("cushioned", "merino wool", "no-show", "compression", "moisture-wicking", "quarter"),
        "{brand} {model} {Facet} {terrain} Running Socks, {pack}, {colour}",
        "{Facet} socks for {terrain} running by {brand}, {pack}; {facet2}. Colour: {colour}.",
        (("terrain", ("road", "trail")), ("pack", ("1 pair", "3 pairs", "6 pairs"))),
        COLOURS,
    ),
    Category(
        "yoga_mats", ("Sports", "Fitness", "Yoga Mats"), "yoga mat", 4, (20, 130),
        (("Manduka", 1.3, ("PRO", "PROlite", "eKO")), ("Liforme", 1.4, ("Travel Mat",)),
         ("Gaiam", 0.7, ("Premium", "Essentials")), ("Jade", 1.1, ("Harmony",)),
         ("Lululemon", 1.2, ("The Mat {n}mm",))),
        ("non-slip", "thick", "eco-friendly", "travel", "extra long", "cork"),
        "{brand} {model} {Facet} Yoga Mat, {thickness}, {colour}",
        "{Facet} yoga mat by {brand}, {thickness} thick, made of {material}; {facet2}. "
        "Colour: {colour}.",
        (("thickness", ("3mm", "5mm", "6mm", "8mm")),
         ("material", ("natural rubber", "TPE", "PVC", "cork"))),
        COLOURS, (3, 6),
    ),
    Category(
        "water_bottles", ("Sports", "Outdoor", "Water Bottles"), "water bottle", 4, (10, 55),
        (("Hydro Flask", 1.2, ("Standard Mouth", "Wide Mouth")),
         ("Nalgene", 0.8, ("Sustain", "OTF")),
         ("CamelBak", 1.0, ("Chute Mag", "Podium")), ("Stanley", 1.1, ("Quencher", "IceFlow")),
         ("Owala", 1.0, ("FreeSip",))),
        ("insulated", "leak-proof", "BPA-free", "stainless steel", "sports", "with straw"),
        "{brand} {model} {Facet} Water Bottle, {capacity}, {colour}",
        "{Facet} {capacity} water bottle from {brand}; {facet2}. Colour: {colour}.",
        (("capacity", ("500ml", "750ml", "1 litre", "1.2 litre")),), COLOURS,
    ),
    Category(
        "coffee_makers", ("Home & Kitchen", "Coffee Makers"), "coffee maker", 5, (25, 900),
        (("De'Longhi", 1.1, ("Dedica EC{n}85", "Magnifica S")),
         ("Breville", 1.3, ("Barista Express", "Bambino Plus")),
         ("Bialetti", 0.5, ("Moka Express {n}-Cup",)), ("Chemex", 0.6, ("Classic {n}-Cup",)),
         ("Bodum", 0.5, ("Chambord {n}-Cup",)), ("Cuisinart", 0.8, ("DCC-{n}000",)),
         ("Moccamaster", 1.2, ("KBGV Select",))),
        ("programmable", "compact", "stainless steel", "with milk frother", "thermal carafe",
         "manual"),
        "{brand} {model} {Facet} {brew_method} Coffee Maker, {colour}",
        "A {facet} {brew_method} coffee maker from {brand}; {facet2}. Colour: {colour}.",
        (("brew_method", ("espresso", "drip", "french press", "pour-over", "moka pot")),),
        ("Black", "Silver", "White", "Red"), (3, 8),
    ),
    Category(
        "coffee_beans", ("Grocery", "Coffee", "Coffee Beans"), "coffee beans", 5, (8, 40),
        (("Lavazza", 0.8, ("Super Crema", "Qualità Oro")), ("Illy", 1.0, ("Classico",)),
         ("Stumptown", 1.2, ("Hair Bender", "Holler Mountain")),
         ("Counter Culture", 1.2, ("Big Trouble", "Hologram")),
         ("Peet's", 0.9, ("Major Dickason's Blend",)),
         ("Kicking Horse", 0.9, ("Kick Ass", "Three Sisters"))),
        ("single origin", "dark roast", "medium roast", "organic", "fair trade", "decaf"),
        "{brand} {model} {Facet} Coffee for {brew_method}, {weight}",
        "{Facet} coffee from {brand}, roasted for {brew_method} brewing with notes of {notes}; "
        "{facet2}. {weight} bag.",
        (("brew_method", ("espresso", "drip", "french press", "pour-over", "moka pot")),
         ("weight", ("250g", "500g", "1kg")),
         ("notes", ("chocolate", "berries", "caramel", "citrus"))),
        (),
    ),
    Category(
        "kitchen_knives", ("Home & Kitchen", "Cookware", "Kitchen Knives"), "chef knife", 4,
        (15, 250),
        (("Wüsthof", 1.3, ("Classic", "Gourmet")), ("Victorinox", 0.6, ("Fibrox Pro",)),
         ("Zwilling", 1.2, ("Pro", "Four Star")), ("Shun", 1.4, ("Classic", "Premier")),
         ("Global", 1.1, ("G-{n}",))),
        ("japanese", "german steel", "forged", "ceramic", "serrated", "damascus"),
        "{brand} {model} {Facet} Chef Knife, {length}",
        "{Facet} chef knife by {brand} with a {length} blade and {handle} handle; {facet2}.",
        (("length", ("6 inch", "8 inch", "10 inch")), ("handle", ("wood", "polymer", "steel"))),
        (), (2, 9),
    ),
    Category(
        "novels", ("Books", "Fiction", "Novels"), "novel", 7, (9, 30),
        (("Penguin", 1.0, ("The {a} {b}",)), ("HarperCollins", 1.0, ("The {a} {b}", "{a} {b}")),
         ("Vintage", 0.9, ("{a} {b}",)), ("Picador", 1.0, ("A {a} {b}",)),
         ("Bloomsbury", 1.1, ("The {b}",))),
        ("thriller", "mystery", "fantasy", "romance", "science fiction", "historical"),
        "{model}: A {Facet} Novel by {author} ({format})",
        "A {facet} novel by {author} with a touch of {facet2}, published by {brand}; "
        "{pages} pages, {format}.",
        (("author", _AUTHORS), ("format", ("Paperback", "Hardcover")),
         ("pages", ("240", "320", "400", "512"))),
        (), words=(_TITLES_A, _TITLES_B),
    ),
    Category(
        "cookbooks", ("Books", "Food & Drink", "Cookbooks"), "cookbook", 3, (15, 45),
        (("Phaidon", 1.2, ("{a} {b}",)), ("Ten Speed Press", 1.1, ("{a} {b}",)),
         ("DK", 0.8, ("The {a} Book",)), ("Quadrille", 1.0, ("Simply {a}",))),
        ("vegetarian", "quick", "italian", "asian", "baking", "family"),
        "{model}: A {Facet} Cookbook by {author} ({format})",
        "{pages} {facet} recipes by {author}, published by {brand}; {facet2} dishes. {format}.",
        (("author", _AUTHORS), ("format", ("Paperback", "Hardcover")),
         ("pages", ("80", "120", "150"))),
        (), words=(_DISHES, _COOK_B),
    ),
)

# Phone models: brand -> "model:launch price" entries.
PHONES: tuple[tuple[str, str], ...] = (
    ("Samsung", "Galaxy S21:699 Galaxy S21 Ultra:999 Galaxy S22:749 Galaxy S22 Ultra:1099 "
     "Galaxy S23:799 Galaxy S23+:999 Galaxy S23 Ultra:1199 Galaxy S23 FE:599 Galaxy S24:799 "
     "Galaxy S24+:999 Galaxy S24 Ultra:1299 Galaxy A14:199 Galaxy A15:199 Galaxy A25:299 "
     "Galaxy A34:379 Galaxy A35:399 Galaxy A54:449 Galaxy A55:479 Galaxy Z Flip5:999 "
     "Galaxy Z Fold5:1799"),
    ("Apple", "iPhone 12:599 iPhone 12 mini:499 iPhone 13:699 iPhone 13 mini:599 iPhone 13 Pro:899 "
     "iPhone 14:729 iPhone 14 Plus:829 iPhone 14 Pro:999 iPhone 14 Pro Max:1099 iPhone 15:799 "
     "iPhone 15 Plus:899 iPhone 15 Pro:999 iPhone 15 Pro Max:1199 iPhone SE:429"),
    ("Google", "Pixel 6:499 Pixel 6a:349 Pixel 7:599 Pixel 7a:499 Pixel 7 Pro:899 Pixel 8:699 "
     "Pixel 8a:499 Pixel 8 Pro:999"),
    ("OnePlus", "OnePlus 10 Pro:799 OnePlus 11:699 OnePlus 12:799 OnePlus 12R:499 Nord 3:449 "
     "Nord CE 3 Lite:299"),
    ("Xiaomi", "Xiaomi 13:749 Xiaomi 13T:649 Xiaomi 14:899 Redmi Note 12:229 "
     "Redmi Note 13 Pro:349"),
    ("Motorola", "Edge 40:599 Edge 40 Pro:899 Moto G54:249 Moto G84:299"),
    ("Sony", "Xperia 1 V:1299 Xperia 5 V:999 Xperia 10 V:449"),
    ("Nothing", "Phone (1):399 Phone (2):599"),
    ("Fairphone", "Fairphone 4:579 Fairphone 5:699"),
)
PHONE_COLOURS = ("Phantom Black", "Midnight", "Starlight", "Mint", "Lavender", "Graphite",
                 "Sierra Blue", "Cream", "Obsidian")
PHONE_FACETS = ("5G", "dual SIM", "unlocked", "fast charging", "triple camera", "waterproof")

# Accessories made for one phone model: (brand, price factor, lines). Brands in MAKER_ONLY make
# accessories for their own phones only.
PhoneAccessory = tuple[str, float, tuple[str, ...]]
CASES: tuple[PhoneAccessory, ...] = (
    ("Spigen", 1.0, ("Tough Armor", "Ultra Hybrid", "Liquid Air", "Rugged Armor")),
    ("OtterBox", 1.6, ("Defender", "Symmetry", "Commuter")),
    ("ESR", 0.8, ("Classic Hybrid", "Air Armor")),
    ("Caseology", 0.9, ("Parallax", "Nano Pop")),
    ("Casetify", 1.8, ("Impact",)),
    ("Ringke", 0.7, ("Fusion", "Onyx")),
    ("Apple", 2.0, ("Silicone", "FineWoven")),
    ("Samsung", 1.5, ("Clear View", "Silicone")),
    ("Google", 1.4, ("Pixel",)),
)
CASE_FACETS = ("clear", "rugged", "slim", "magnetic", "leather", "shockproof")
CASE_MATERIALS = ("TPU", "polycarbonate", "silicone", "leather", "recycled plastic")
PROTECTORS: tuple[PhoneAccessory, ...] = (
    ("ESR", 0.8, ("Tempered Glass",)),
    ("amFilm", 0.6, ("OneTouch Glass",)),
    ("Spigen", 1.0, ("GLAS.tR EZ Fit",)),
    ("ZAGG", 1.8, ("InvisibleShield Glass Elite",)),
    ("Belkin", 1.5, ("UltraGlass",)),
)
PROTECTOR_FACETS = ("tempered glass", "privacy", "anti-glare", "case-friendly")
CHARGERS: tuple[PhoneAccessory, ...] = (
    ("Anker", 1.0, ("Nano 20W USB-C Charger", "313 Wireless Charging Pad")),
    ("Belkin", 1.4, ("BoostCharge Pro Wireless Stand", "25W USB-C Charger")),
    ("Ugreen", 0.9, ("Nexode 30W GaN Charger",)),
    ("Apple", 1.6, ("20W USB-C Power Adapter", "MagSafe Charger")),
    ("Samsung", 1.3, ("25W Super Fast Charger", "15W Wireless Charger Duo")),
    ("Google", 1.5, ("Pixel Stand 2",)),
)
CHARGER_FACETS = ("fast charging", "wireless", "compact", "USB-C")
MAKER_ONLY = ("Apple", "Samsung", "Google")
# fmt: on

PHONE_PATH = ("Electronics", "Phones")
CASE_PATH = ("Electronics", "Phone Accessories", "Phone Cases")
PROTECTOR_PATH = ("Electronics", "Phone Accessories", "Screen Protectors")
CHARGER_PATH = ("Electronics", "Phone Accessories", "Chargers")

#: Anchor category key -> (complement category key, attribute both must share).
COMPLEMENT_RULES: tuple[tuple[str, str, str], ...] = (
    ("cameras", "memory_cards", "card_format"),
    ("laptops", "laptop_bags", "screen_size"),
    ("coffee_makers", "coffee_beans", "brew_method"),
    ("running_shoes", "sports_socks", "terrain"),
)

#: Catalog shares of the phone family (of the non-cold catalog).
PHONE_SHARES = {"phones": 0.025, "phone_cases": 0.11, "screen_protectors": 0.045, "chargers": 0.035}

#: How popular each category is as a shopper's taste (phones are a favourite; default 0.6).
TASTE_WEIGHTS = {
    "phones": 3.0, "headphones": 1.5, "running_shoes": 1.5, "laptops": 1.2, "novels": 1.2,
    "coffee_makers": 1.0, "cameras": 1.0,
}  # fmt: skip

PHONE_KEYS = ("phones", "phone_cases", "screen_protectors", "chargers")
_ACCESSORY_PATHS = {
    "phone_cases": CASE_PATH,
    "screen_protectors": PROTECTOR_PATH,
    "chargers": CHARGER_PATH,
}
_ACCESSORY_TABLES = {
    "phone_cases": (CASES, CASE_FACETS, (12.0, 45.0)),
    "screen_protectors": (PROTECTORS, PROTECTOR_FACETS, (8.0, 30.0)),
    "chargers": (CHARGERS, CHARGER_FACETS, (15.0, 60.0)),
}
_UNAVAILABLE_SHARE = 0.04
_COLD_CASE_SHARE = 0.4


@dataclass
class Catalog:
    """Items of the demo store with what the shopper simulation needs about them.

    Attributes:
        items: the products, ids ``i00001``…, warm ones first.
        keys: category key per item index (``phones``, ``phone_cases``, ``running_shoes``…).
        popularity: Zipf-like base weight per item within its category (0 for cold items).
        level: price level per item within its category (0 budget, 1 mid-range, 2 premium).
        warm: category key → indices of the items that existed during the simulated period.
        complements: anchor index → complement category key → complement indices (cold included).
        cold: indices of the items created after the period (no events).
    """

    items: list[Item]
    keys: list[str]
    popularity: np.ndarray
    level: np.ndarray
    warm: dict[str, np.ndarray]
    complements: dict[int, dict[str, list[int]]]
    cold: list[int]

    def leaf(self, key: str) -> str:
        """Leaf category name of a category key."""
        return _LEAVES[key]


_LEAVES = {c.key: c.leaf for c in CATEGORIES} | {
    "phones": PHONE_PATH[-1],
    "phone_cases": CASE_PATH[-1],
    "screen_protectors": PROTECTOR_PATH[-1],
    "chargers": CHARGER_PATH[-1],
}


def cap(text: str) -> str:
    """Upper-case the first letter of each word, leaving the rest (``4K video`` → ``4K Video``)."""
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def phone_name(brand: str, model: str) -> str:
    """Full phone name as titles print it (``Samsung Galaxy S23``, ``iPhone 15``)."""
    return model if brand == "Apple" or model.startswith(brand) else f"{brand} {model}"


def phone_models() -> list[tuple[str, str, float]]:
    """All (brand, model, launch price) entries of :data:`PHONES`."""
    return [
        (brand, model, float(price))
        for brand, text in PHONES
        for model, price in re.findall(r"(.+?):(\d+)(?: |$)", text)
    ]


def _price(rng: np.random.Generator, low: float, high: float, factor: float) -> float:
    value = math.exp(rng.uniform(math.log(low), math.log(high))) * factor
    value = min(max(value, low * 0.6), high * 1.4)
    return round(value) - 0.01 if value >= 5 else round(value, 2)


def _allocate(total: int, weights: list[float], minimum: int) -> list[int]:
    """Split `total` into integer parts proportional to `weights`, each at least `minimum`."""
    rest = total - minimum * len(weights)
    raw = [rest * w / sum(weights) for w in weights]
    parts = [minimum + math.floor(r) for r in raw]
    by_fraction = sorted(range(len(raw)), key=lambda i: (-(raw[i] - math.floor(raw[i])), i))
    for i in by_fraction[: total - sum(parts)]:
        parts[i] += 1
    return parts


class _Builder:
    """Creates product rows in index order; an item's id follows from its index."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.cold: list[bool] = []

    def pick(self, values: tuple[Any, ...] | list[Any], skew: float = 0.0) -> Any:
        weights = np.arange(1, len(values) + 1, dtype=float) ** -skew
        return values[int(self.rng.choice(len(values), p=weights / weights.sum()))]

    def add(self, key: str, path: tuple[str, ...], cold: bool, **row: Any) -> int:
        self.rows.append({"category": list(path), **row})
        self.keys.append(key)
        self.cold.append(cold)
        return len(self.rows) - 1

    def generic(self, cat: Category, cold: bool) -> int:
        rng = self.rng
        brand, factor, lines = self.pick(cat.brands, skew=0.6)
        words = [self.pick(w) if w else "" for w in cat.words]
        model = str(self.pick(lines)).format(
            n=int(rng.integers(cat.numbers[0], cat.numbers[1] + 1)), a=words[0], b=words[1]
        )
        f1, f2 = (cat.facets[i] for i in rng.choice(len(cat.facets), 2, replace=False))
        attrs: dict[str, Any] = {"model": model}
        attrs.update({name: self.pick(values) for name, values in cat.attrs})
        if cat.colours:
            attrs["colour"] = self.pick(cat.colours, skew=0.5)
        slots = {"brand": brand, "facet": f1, "Facet": cap(f1), "facet2": f2, **attrs}
        attrs["features"] = [f1, f2]
        return self.add(
            cat.key,
            cat.path,
            cold,
            title=cat.title.format(**slots),
            description=cat.blurb.format(**slots),
            brand=brand,
            price=_price(rng, *cat.price, factor),
            attributes=attrs,
        )

    def phone(self, brand: str, model: str, launch: float) -> int:
        rng = self.rng
        storage = self.pick(("128GB", "256GB", "512GB"), skew=1.0)
        colour = self.pick(PHONE_COLOURS)
        f1, f2 = (PHONE_FACETS[i] for i in rng.choice(len(PHONE_FACETS), 2, replace=False))
        screen, camera = self.pick((6.1, 6.4, 6.7)), self.pick((12, 48, 50, 108, 200))
        full = phone_name(brand, model)
        factor = {"128GB": 1.0, "256GB": 1.12, "512GB": 1.35}[storage] * rng.uniform(0.8, 1.0)
        return self.add(
            "phones",
            PHONE_PATH,
            False,
            title=f"{full} {cap(f1)} Smartphone, {storage}, {colour}",
            description=(
                f"{full} smartphone with {storage} of storage, a {screen}-inch display and a "
                f"{camera} MP main camera; {f1}, {f2}. Colour: {colour}."
            ),
            brand=brand,
            price=round(launch * factor) - 0.01,
            attributes={
                "model": model,
                "storage": storage,
                "colour": colour,
                "screen_in": screen,
                "features": [f1, f2],
            },
        )

    def accessory(self, key: str, phone: int, cold: bool) -> int:
        table, facets, (low, high) = _ACCESSORY_TABLES[key]
        phone_row = self.rows[phone]
        full = phone_name(phone_row["brand"], phone_row["attributes"]["model"])
        makers = [b for b in table if b[0] not in MAKER_ONLY or b[0] == phone_row["brand"]]
        brand, factor, lines = self.pick(makers, skew=0.5)
        line, facet = self.pick(lines), self.pick(facets)
        attrs: dict[str, Any] = {"compatible_with": f"i{phone + 1:05d}", "compatible_model": full}
        if key == "phone_cases":
            material, colour = self.pick(CASE_MATERIALS), self.pick(COLOURS, skew=0.5)
            title = f"{brand} {line} {cap(facet)} Case for {full}, {colour}"
            text = f"{cap(facet)} {material} case by {brand}, made for the {full}: raised edges "
            text += f"protect the screen and camera. Colour: {colour}."
            attrs |= {"material": material, "colour": colour}
        elif key == "screen_protectors":
            pack = self.pick(("1-Pack", "2-Pack", "3-Pack"))
            title = f"{brand} {line} {cap(facet)} Screen Protector for {full}, {pack}"
            text = f"{cap(facet)} screen protector by {brand}, cut for the {full}; comes with an "
            text += f"installation frame. {pack}."
            attrs["pack"] = pack
        else:
            title = f"{brand} {line} for {full}, {cap(facet)}"
            text = f"{cap(facet)} charger by {brand} for the {full}; charges at full speed."
        attrs["features"] = [facet]
        return self.add(
            key,
            _ACCESSORY_PATHS[key],
            cold,
            title=title,
            description=text,
            brand=brand,
            price=_price(self.rng, low, high, factor),
            attributes=attrs,
        )


def build_catalog(
    rng: np.random.Generator, n_items: int, cold_share: float, start: datetime, end: datetime
) -> Catalog:
    """Build the demo catalog: phones with accessories made for them, the other categories,
    and ``round(n_items * cold_share)`` cold items created at `end` (40 % of them new cases for
    phones already on sale).

    Raises:
        ConfigError: `n_items` is too small to hold every category.
    """
    n_cold = round(n_items * cold_share)
    n_warm = n_items - n_cold
    if n_warm < 100:
        raise ConfigError(
            f"n_items={n_items} with cold_share={cold_share} leaves {n_warm} warm items; the "
            "demo needs at least 100 to fill its categories: raise n_items"
        )
    builder = _Builder(rng)
    phones = _add_phones(builder, n_warm)
    weights = [c.weight for c in CATEGORIES]
    for cat, count in zip(
        CATEGORIES, _allocate(n_warm - len(builder.rows), weights, 2), strict=True
    ):
        for _ in range(count):
            builder.generic(cat, cold=False)
    _add_cold(builder, phones, n_cold)
    return _finish(builder, start, end)


def _phone_share(n_phones: int) -> np.ndarray:
    share: np.ndarray = np.arange(1, n_phones + 1, dtype=float) ** -0.6
    total = float(share.sum())
    return share / total


def _add_phones(builder: _Builder, n_warm: int) -> list[int]:
    models = phone_models()
    n_phones = min(len(models), max(2, round(PHONE_SHARES["phones"] * n_warm)))
    phones = [builder.phone(*models[i]) for i in builder.rng.permutation(len(models))[:n_phones]]
    share = _phone_share(n_phones)
    for key in ("phone_cases", "screen_protectors", "chargers"):
        count = max(1, round(PHONE_SHARES[key] * n_warm))
        owners = list(range(n_phones)) if key == "phone_cases" else []
        if count > len(owners):
            owners += builder.rng.choice(n_phones, size=count - len(owners), p=share).tolist()
        for owner in sorted(owners):
            builder.accessory(key, phones[owner], cold=False)
    return phones


def _add_cold(builder: _Builder, phones: list[int], n_cold: int) -> None:
    n_cases = math.ceil(n_cold * _COLD_CASE_SHARE)
    owners = builder.rng.choice(len(phones), size=n_cases, p=_phone_share(len(phones)))
    for owner in sorted(owners.tolist()):
        builder.accessory("phone_cases", phones[owner], cold=True)
    weights = [c.weight for c in CATEGORIES]
    for cat, count in zip(CATEGORIES, _allocate(n_cold - n_cases, weights, 0), strict=True):
        for _ in range(count):
            builder.generic(cat, cold=True)


def _finish(builder: _Builder, start: datetime, end: datetime) -> Catalog:
    rng, rows, keys = builder.rng, builder.rows, builder.keys
    n = len(rows)
    cold = np.asarray(builder.cold, dtype=bool)
    popularity, level = np.zeros(n), np.zeros(n, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    warm: dict[str, np.ndarray] = {}
    for key, members in groups.items():
        idx = np.asarray(members, dtype=np.int64)
        warm[key] = idx[~cold[idx]]
        # phones keep build order, in which the popular ones got the most accessories
        order = np.arange(len(warm[key])) if key == "phones" else rng.permutation(len(warm[key]))
        popularity[warm[key][order]] = np.arange(1, len(warm[key]) + 1, dtype=float) ** -1.05
        prices = np.asarray([rows[i]["price"] for i in members])
        level[idx] = 3 * np.argsort(np.argsort(prices, kind="stable"), kind="stable") // len(idx)
    unavailable = ~cold & (rng.random(n) < _UNAVAILABLE_SHARE)
    items = []
    for i, row in enumerate(rows):
        if cold[i]:  # launched in the hours after the last simulated event
            created = end + timedelta(seconds=int(rng.integers(60, 6 * 3600)))
        else:
            created = start - timedelta(seconds=int(rng.integers(20 * 86400, 720 * 86400)))
        items.append(
            Item(id=f"i{i + 1:05d}", available=not unavailable[i], created_at=created, **row)
        )
    cold_list = np.flatnonzero(cold).tolist()
    return Catalog(items, keys, popularity, level, warm, _complements(rows, keys), cold_list)


def _complements(rows: list[dict[str, Any]], keys: list[str]) -> dict[int, dict[str, list[int]]]:
    out: dict[int, dict[str, list[int]]] = {}
    for i, key in enumerate(keys):
        if key in _ACCESSORY_TABLES:
            phone = int(rows[i]["attributes"]["compatible_with"][1:]) - 1
            out.setdefault(phone, {}).setdefault(key, []).append(i)
    for anchor, comp, attr in COMPLEMENT_RULES:
        by_value: dict[Any, list[int]] = {}
        for i, key in enumerate(keys):
            if key == comp:
                by_value.setdefault(rows[i]["attributes"][attr], []).append(i)
        for i, key in enumerate(keys):
            if key == anchor:
                out[i] = {comp: by_value.get(rows[i]["attributes"][attr], [])}
    return out
