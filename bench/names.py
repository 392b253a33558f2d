"""Name and word lists for the benchmark data (a few hundred of each, realistic mix)."""

FIRST = """
James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph Jessica
Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra Donald Ashley
Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Dorothy Kevin Carol Brian Amanda George Melissa
Edward Deborah Ronald Stephanie Timothy Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
Nicholas Shirley Eric Angela Jonathan Helen Stephen Anna Larry Brenda Justin Pamela Scott Nicole Brandon Emma
Benjamin Samantha Samuel Katherine Gregory Christine Frank Debra Alexander Rachel Raymond Catherine Patrick Carolyn
Jack Janet Dennis Ruth Jerry Maria Tyler Heather Aaron Diane Jose Virginia Adam Julie Henry Joyce Nathan Victoria
Douglas Olivia Zachary Kelly Peter Christina Kyle Lauren Walter Joan Ethan Evelyn Jeremy Judith Harold Megan Keith
Cheryl Christian Andrea Roger Hannah Noah Martha Gerald Jacqueline Carl Frances Terry Gloria Sean Ann Austin Teresa
Arthur Kathryn Lawrence Sara Jesse Janice Dylan Jean Bryan Alice Joe Madison Jordan Doris Billy Abigail Bruce Julia
Albert Judy Willie Grace Gabriel Denise Logan Amber Alan Marilyn Juan Beverly Wayne Danielle Roy Theresa Ralph Sophia
Randy Marie Eugene Diana Vincent Brittany Russell Natalie Elijah Isabella Louis Charlotte Bobby Rose Philip Alexis
Johnny Kayla Aisha Mohammed Priya Arjun Wei Mei Hiroshi Yuki Olga Ivan Fatima Omar Chloe Lucas Mateo Sofia Amelie
Lars Ingrid Pierre Elodie Giulia Marco Zofia Piotr Siobhan Niamh Rhys Cerys Ewan Isla Callum Freya Oisin Aoife
""".split()

LAST = """
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson
Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young
Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter
Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez
Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez
Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero
Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson
Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez
Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox
Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn
Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong
O'Brien Byrne Walsh O'Connor McCarthy Doyle Gallagher Jansen Novak Kowalski Nowak Schneider Fischer Weber Becker
Dubois Moreau Laurent Rossi Russo Ferrari Esposito Bianchi Yamamoto Tanaka Suzuki Wang Zhang Liu Singh Kumar Shah
Khan Ali Ahmed Hussain Begum Okafor Mensah Osei Nkosi Dlamini Andersson Johansson Nielsen Virtanen Korhonen
""".split()

COMPANY_WORDS = """
Acme Northwind Contoso Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Soylent Hooli Vandelay Oceanic
Prestige Massive Dynamic Aperture Gringotts Monarch Sirius Ultra Pioneer Summit Harbour Meridian Atlas Beacon Crown
""".split()

SUMMARIES = [
    "Asked about delivery date",
    "Complained about late delivery",
    "Requested a refund for damaged item",
    "Changed billing address",
    "Question about invoice",
    "Follow-up call after complaint",
    "Renewal reminder sent",
    "Thanked us for quick help",
    "Reported a fault with the product",
    "Asked for a product demonstration",
    "Updated marketing preferences",
    "Meeting to review the account",
    "Sent quote for additional licences",
    "Password reset request",
    "Escalated billing dispute",
    "Satisfaction survey answered",
    "Welcome call for new customer",
    "Cancelled the subscription",
    "Enquiry about opening hours",
    "Feedback on the new website",
]

TAGS = ["vip", "newsletter", "b2b", "wholesale", "trade", "press", "partner", "complaint-history", "gold", "silver"]
