"""Draws the demo directory's avatars (megan.jpg, alex.jpg, adele.jpg) with Pillow.

Run from this directory: python3 generate.py. The JPEGs are committed; slapd::demo_seed()
embeds them into the demo LDIF as jpegPhoto values.
"""

from PIL import Image, ImageDraw

# (file, background, skin, hair, shirt, long hair)
PEOPLE = [
    ("megan.jpg", (74, 144, 226), (241, 194, 155), (120, 72, 40), (232, 90, 79), True),
    ("alex.jpg", (92, 184, 132), (224, 172, 130), (40, 30, 25), (60, 70, 110), False),
    ("adele.jpg", (160, 160, 170), (198, 140, 105), (200, 160, 60), (120, 60, 140), True),
]

for name, bg, skin, hair, shirt, long_hair in PEOPLE:
    img = Image.new("RGB", (128, 128), bg)
    d = ImageDraw.Draw(img)
    d.ellipse((22, 92, 106, 170), fill=shirt)  # shoulders
    d.rectangle((56, 78, 72, 98), fill=skin)  # neck
    if long_hair:
        d.ellipse((34, 22, 94, 96), fill=hair)  # hair behind the head
        d.rectangle((34, 58, 94, 96), fill=hair)
    d.ellipse((40, 28, 88, 84), fill=skin)  # face
    if long_hair:
        d.pieslice((38, 22, 90, 66), 180, 360, fill=hair)
    else:
        d.pieslice((38, 24, 90, 60), 180, 360, fill=hair)
    d.ellipse((52, 50, 58, 56), fill=(40, 40, 40))  # eyes
    d.ellipse((70, 50, 76, 56), fill=(40, 40, 40))
    d.arc((54, 58, 74, 74), 20, 160, fill=(150, 60, 60), width=2)  # smile
    img.save(name, "JPEG", quality=85, optimize=True)
