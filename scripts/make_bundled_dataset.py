"""Regenerate core/bundled/pride_and_prejudice.jsonl: facts about the novel, each asked in two or
three phrasings, so that held-out questions test learned knowledge rather than memorised text."""

import json

F = [
    (
        "Jane Austen",
        [
            "Who wrote Pride and Prejudice?",
            "Who is the author of Pride and Prejudice?",
            "Which novelist wrote Pride and Prejudice?",
        ],
    ),
    (
        "1813",
        [
            "In what year was Pride and Prejudice first published?",
            "When was Pride and Prejudice published?",
            "What year did Pride and Prejudice first appear in print?",
        ],
    ),
    (
        "First Impressions",
        [
            "What was the original title of Pride and Prejudice?",
            "Under what working title did Austen first write Pride and Prejudice?",
        ],
    ),
    (
        "Elizabeth Bennet",
        [
            "Who is the heroine of Pride and Prejudice?",
            "Who is the main character of Pride and Prejudice?",
            "Which Bennet sister is the protagonist of the novel?",
        ],
    ),
    ("Fitzwilliam Darcy", ["What is Mr. Darcy's first name?", "What is Mr. Darcy's full name?"]),
    (
        "Longbourn",
        [
            "What is the name of the Bennet family estate?",
            "What is the Bennet family home called?",
            "Where do the Bennets live?",
        ],
    ),
    ("Hertfordshire", ["In which county is Longbourn?", "Which county do the Bennets live in?"]),
    (
        "Meryton",
        [
            "What is the name of the town near Longbourn?",
            "Which market town is closest to Longbourn?",
            "In which town is the militia quartered near the Bennets?",
        ],
    ),
    (
        "Netherfield Park",
        [
            "What estate does Mr. Bingley rent?",
            "Which house does Charles Bingley lease in Hertfordshire?",
            "What is the name of the estate Bingley takes near Longbourn?",
        ],
    ),
    (
        "Pemberley",
        [
            "What is the name of Mr. Darcy's estate?",
            "What is Darcy's family estate called?",
            "Where is Mr. Darcy's country house?",
        ],
    ),
    ("Derbyshire", ["In which county is Pemberley?", "Which county is Darcy's estate in?"]),
    (
        "Five",
        ["How many daughters do Mr. and Mrs. Bennet have?", "How many Bennet sisters are there?"],
    ),
    ("Jane Bennet", ["Who is the eldest Bennet sister?", "Which Bennet daughter is the oldest?"]),
    (
        "Lydia Bennet",
        ["Who is the youngest Bennet sister?", "Which Bennet daughter is the youngest?"],
    ),
    (
        "Mary Bennet",
        [
            "Which Bennet sister is bookish and fond of moralizing?",
            "Which Bennet sister loves reading and showing off at the piano?",
        ],
    ),
    (
        "Kitty",
        ["What is Catherine Bennet's nickname?", "What do her family call Catherine Bennet?"],
    ),
    (
        "Catherine Bennet",
        ["Which Bennet sister is called Kitty?", "What is Kitty Bennet's real first name?"],
    ),
    (
        "Charles Bingley",
        [
            "Who rents Netherfield Park?",
            "Which wealthy young man takes Netherfield at the start of the novel?",
        ],
    ),
    (
        "Charles Bingley",
        [
            "Whom does Jane Bennet marry?",
            "Who becomes Jane Bennet's husband?",
            "Who proposes to Jane Bennet at the end of the novel?",
        ],
    ),
    (
        "Fitzwilliam Darcy",
        [
            "Whom does Elizabeth Bennet marry?",
            "Who becomes Elizabeth Bennet's husband?",
            "Whom is Elizabeth engaged to at the end of the novel?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who is Mr. Bingley's closest friend?",
            "Which friend does Bingley bring to the Meryton assembly?",
        ],
    ),
    (
        "Caroline Bingley",
        [
            "What is the name of Mr. Bingley's unmarried sister?",
            "Which of Bingley's sisters hopes to marry Mr. Darcy?",
            "Who is jealous of Darcy's interest in Elizabeth?",
        ],
    ),
    ("Louisa Hurst", ["What is the name of Bingley's married sister?", "Who is Mrs. Hurst?"]),
    (
        "Mr. Hurst",
        ["Who is Mr. Bingley's brother-in-law?", "Who is married to Bingley's sister Louisa?"],
    ),
    (
        "William Collins",
        [
            "Who will inherit Longbourn after Mr. Bennet?",
            "Who is the heir to the Longbourn estate?",
            "What is the name of Mr. Bennet's clergyman cousin?",
        ],
    ),
    (
        "The estate is entailed on the male line",
        [
            "Why can't the Bennet daughters inherit Longbourn?",
            "What legal arrangement passes Longbourn to Mr. Collins?",
        ],
    ),
    (
        "Lady Catherine de Bourgh",
        ["Who is Mr. Collins's patroness?", "Who gave Mr. Collins his living at Hunsford?"],
    ),
    (
        "Lady Catherine de Bourgh",
        ["Who is Mr. Darcy's aunt?", "Which aunt of Darcy's opposes his marriage to Elizabeth?"],
    ),
    (
        "Rosings Park",
        [
            "What is the name of Lady Catherine's estate?",
            "Where does Lady Catherine de Bourgh live?",
        ],
    ),
    ("Kent", ["In which county is Rosings Park?", "Which county are Rosings and Hunsford in?"]),
    ("Hunsford", ["What is the name of Mr. Collins's parish?", "Where is Mr. Collins the rector?"]),
    (
        "Charlotte Lucas",
        [
            "Whom does Mr. Collins marry?",
            "Who accepts Mr. Collins after Elizabeth refuses him?",
            "Which friend of Elizabeth's marries Mr. Collins?",
        ],
    ),
    (
        "Twenty-seven",
        [
            "How old is Charlotte Lucas when she marries Mr. Collins?",
            "What is Charlotte Lucas's age?",
        ],
    ),
    (
        "Sir William Lucas",
        [
            "Who is Charlotte Lucas's father?",
            "Which knighted neighbour of the Bennets lives at Lucas Lodge?",
        ],
    ),
    (
        "Lucas Lodge",
        ["What is the Lucas family home called?", "Where do Sir William and Lady Lucas live?"],
    ),
    (
        "Maria Lucas",
        [
            "What is the name of Charlotte's younger sister?",
            "Which of Charlotte's sisters travels with Elizabeth to Hunsford?",
        ],
    ),
    (
        "George Wickham",
        [
            "Who elopes with Lydia Bennet?",
            "Whom does Lydia Bennet marry?",
            "Which officer runs away with Lydia?",
        ],
    ),
    (
        "George Wickham",
        [
            "Which charming militia officer tells Elizabeth lies about Darcy?",
            "Who claims that Darcy cheated him of a living?",
        ],
    ),
    (
        "The steward of Pemberley",
        ["Who was Wickham's father?", "What was Wickham's father's position?"],
    ),
    (
        "Georgiana Darcy",
        ["What is the name of Mr. Darcy's younger sister?", "Who is Darcy's sister?"],
    ),
    (
        "Ramsgate",
        [
            "Where did Wickham try to elope with Georgiana Darcy?",
            "In which seaside town did Wickham nearly elope with Georgiana?",
        ],
    ),
    (
        "Fifteen",
        [
            "How old was Georgiana when Wickham tried to elope with her?",
            "What was Georgiana Darcy's age at Ramsgate?",
        ],
    ),
    (
        "Thirty thousand pounds",
        [
            "How large is Georgiana Darcy's fortune?",
            "What fortune was Wickham after when he courted Georgiana?",
        ],
    ),
    (
        "Colonel Fitzwilliam",
        [
            "Who is Darcy's cousin who visits Rosings with him?",
            "Who shares the guardianship of Georgiana with Darcy?",
        ],
    ),
    (
        "Anne de Bourgh",
        [
            "What is the name of Lady Catherine's daughter?",
            "Whom does Lady Catherine intend Darcy to marry?",
        ],
    ),
    (
        "The Gardiners",
        [
            "Who are Elizabeth's aunt and uncle from London?",
            "Which relatives take Elizabeth on a tour of Derbyshire?",
        ],
    ),
    (
        "Mr. Gardiner",
        ["Who is Mrs. Bennet's brother?", "Which uncle of Elizabeth's lives in London?"],
    ),
    (
        "A merchant",
        ["What does Mr. Gardiner do for a living?", "What is Mr. Gardiner's profession?"],
    ),
    (
        "Gracechurch Street",
        [
            "Where in London do the Gardiners live?",
            "On which London street is the Gardiners' house?",
        ],
    ),
    (
        "Mrs. Phillips",
        [
            "Who is Mrs. Bennet's sister in Meryton?",
            "Which aunt of the Bennet girls lives in Meryton?",
        ],
    ),
    (
        "An attorney",
        ["What is Mr. Phillips's profession?", "What does Mrs. Phillips's husband do?"],
    ),
    (
        "Mrs. Reynolds",
        [
            "Who is the housekeeper at Pemberley?",
            "Who shows Elizabeth around Pemberley and praises Darcy?",
        ],
    ),
    (
        "Lambton",
        [
            "In which village near Pemberley did Mrs. Gardiner grow up?",
            "Where do the Gardiners stay when they visit Pemberley?",
        ],
    ),
    (
        "Brighton",
        [
            "Where is the militia regiment sent for the summer?",
            "Where does Lydia go with Mrs. Forster?",
        ],
    ),
    ("Mrs. Forster", ["Who invites Lydia to Brighton?", "Whose guest is Lydia in Brighton?"]),
    (
        "Colonel Forster",
        [
            "Who commands the militia regiment at Meryton?",
            "Which colonel's wife takes Lydia to Brighton?",
        ],
    ),
    (
        "Mr. Denny",
        [
            "Which officer introduces Wickham to the Bennet sisters?",
            "Who is Wickham's friend in the militia?",
        ],
    ),
    (
        "London",
        [
            "Where do Wickham and Lydia hide after they elope?",
            "In which city are Lydia and Wickham found?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who pays Wickham to marry Lydia?",
            "Who secretly arranges Lydia's marriage to Wickham?",
            "Who finds Lydia and Wickham in London?",
        ],
    ),
    (
        "Lydia",
        [
            "Who lets slip that Darcy was at her wedding?",
            "Who tells Elizabeth by accident that Darcy attended Lydia's wedding?",
        ],
    ),
    (
        "Mrs. Gardiner",
        [
            "Who writes to Elizabeth explaining Darcy's part in Lydia's marriage?",
            "Whose letter tells Elizabeth what Darcy did for Lydia?",
        ],
    ),
    (
        "Newcastle",
        [
            "Where are Wickham and Lydia sent after their marriage?",
            "Where is Wickham's new regiment stationed?",
        ],
    ),
    (
        "At Hunsford parsonage",
        [
            "Where does Darcy first propose to Elizabeth?",
            "In which house does Darcy make his first proposal?",
        ],
    ),
    (
        "She refuses him",
        [
            "How does Elizabeth answer Darcy's first proposal?",
            "What is Elizabeth's reply to Darcy's first proposal?",
        ],
    ),
    (
        "A letter",
        [
            "What does Darcy give Elizabeth the morning after she refuses him?",
            "How does Darcy explain himself after his first proposal?",
        ],
    ),
    (
        "He separated Bingley from Jane",
        [
            "Why is Elizabeth angry with Darcy at his first proposal?",
            "What interference of Darcy's does Elizabeth resent most?",
        ],
    ),
    (
        "On a walk near Longbourn",
        ["Where does Darcy propose the second time?", "Where is Darcy's second proposal made?"],
    ),
    (
        "At the Meryton assembly",
        [
            "Where do Elizabeth and Darcy first meet?",
            "At which ball does Darcy first see Elizabeth?",
        ],
    ),
    (
        "She is tolerable, but not handsome enough to tempt me",
        [
            "What does Darcy say about Elizabeth at the Meryton assembly?",
            "What insult does Elizabeth overhear Darcy say at the first ball?",
        ],
    ),
    (
        "Her fine eyes",
        [
            "What feature of Elizabeth does Darcy admire early on?",
            "What does Darcy praise in Elizabeth to Caroline Bingley?",
        ],
    ),
    (
        "She catches a cold riding in the rain",
        [
            "Why does Jane stay at Netherfield for several days?",
            "What happens to Jane on her way to dine at Netherfield?",
        ],
    ),
    (
        "She walks three miles through the mud",
        [
            "How does Elizabeth get to Netherfield to nurse Jane?",
            "How does Elizabeth travel to Netherfield when Jane is ill?",
        ],
    ),
    (
        "Six inches deep in mud",
        [
            "What does Caroline Bingley mock about Elizabeth's petticoat?",
            "How dirty does Caroline say Elizabeth's petticoat was?",
        ],
    ),
    (
        "The Netherfield ball",
        ["At which ball does Elizabeth dance with Darcy?", "Which ball does Mr. Bingley give?"],
    ),
    (
        "Mr. Collins",
        [
            "Who is the first man to propose to Elizabeth?",
            "Who proposes to Elizabeth the day after the Netherfield ball?",
        ],
    ),
    (
        "Jane",
        [
            "Which Bennet sister did Mr. Collins first plan to marry?",
            "Whom did Mr. Collins intend to marry before choosing Elizabeth?",
        ],
    ),
    (
        "Fordyce's Sermons",
        [
            "What book does Mr. Collins read aloud to the Bennet sisters?",
            "Which book of sermons does Mr. Collins choose to read to the family?",
        ],
    ),
    (
        "He will never see her again if she does",
        [
            "What does Mr. Bennet say will happen if Elizabeth marries Mr. Collins?",
            "How does Mr. Bennet respond to Mr. Collins's proposal to Elizabeth?",
        ],
    ),
    (
        "His library",
        [
            "Where does Mr. Bennet like to retreat?",
            "Which room of Longbourn is Mr. Bennet's refuge?",
        ],
    ),
    (
        "Her nerves",
        [
            "What does Mrs. Bennet constantly complain about?",
            "What does Mrs. Bennet say her poor husband has no compassion for?",
        ],
    ),
    (
        "Getting her daughters married",
        ["What is Mrs. Bennet's chief ambition?", "What is the business of Mrs. Bennet's life?"],
    ),
    (
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife",
        [
            "What is the first sentence of Pride and Prejudice?",
            "How does Pride and Prejudice begin?",
        ],
    ),
    (
        "Four or five thousand a year",
        ["What is Mr. Bingley's income?", "How much does Mr. Bingley have a year?"],
    ),
    (
        "Ten thousand a year",
        ["What is Mr. Darcy's annual income?", "How much is Mr. Darcy worth a year?"],
    ),
    (
        "Two thousand a year",
        [
            "What is Mr. Bennet's income?",
            "How much does the Longbourn estate bring Mr. Bennet a year?",
        ],
    ),
    (
        "To stop Elizabeth from marrying Darcy",
        [
            "Why does Lady Catherine visit Elizabeth at Longbourn?",
            "What does Lady Catherine demand when she calls on Elizabeth?",
        ],
    ),
    (
        "She refuses to promise",
        [
            "How does Elizabeth answer Lady Catherine's demand?",
            "Does Elizabeth promise Lady Catherine not to marry Darcy?",
        ],
    ),
    (
        "The living of Kympton",
        [
            "What church living did old Mr. Darcy leave to Wickham?",
            "Which living was Wickham meant to have?",
        ],
    ),
    (
        "Three thousand pounds",
        [
            "What did Wickham take instead of the church living?",
            "How much money did Wickham accept in place of the living?",
        ],
    ),
    (
        "A letter from Jane",
        [
            "How does Elizabeth learn that Lydia has eloped?",
            "What brings Elizabeth the news of Lydia's elopement?",
        ],
    ),
    (
        "At the inn at Lambton",
        [
            "Where is Elizabeth when she learns of Lydia's elopement?",
            "Where does Elizabeth read the news that Lydia has run away?",
        ],
    ),
    (
        "Mr. Bennet and Mr. Gardiner",
        [
            "Who goes to London to search for Lydia?",
            "Which two men look for Lydia and Wickham in London?",
        ],
    ),
    (
        "Elizabeth",
        [
            "Which daughter is Mr. Bennet's favourite?",
            "Which of his daughters does Mr. Bennet value most?",
        ],
    ),
    (
        "Lydia",
        [
            "Which daughter is Mrs. Bennet's favourite?",
            "Which of her daughters does Mrs. Bennet indulge most?",
        ],
    ),
    (
        "Jane",
        [
            "Which sister is Elizabeth closest to?",
            "Who is Elizabeth's dearest sister and confidante?",
        ],
    ),
    ("Twenty", ["How old is Elizabeth Bennet?", "What is Elizabeth's age in the novel?"]),
    ("Twenty-two", ["How old is Jane Bennet?", "What is Jane Bennet's age?"]),
    (
        "Fifteen",
        [
            "How old is Lydia at the start of the novel?",
            "What is Lydia Bennet's age when the story opens?",
        ],
    ),
    (
        "Pride",
        ["Which fault is Mr. Darcy mostly accused of?", "Which half of the title describes Darcy?"],
    ),
    (
        "Prejudice",
        [
            "Which fault does Elizabeth recognise in herself?",
            "Which half of the title describes Elizabeth?",
        ],
    ),
    (
        "Caroline Bingley",
        [
            "Who snubs Jane when she visits London?",
            "Who ignores Jane's calls during her stay in London?",
        ],
    ),
    (
        "Sir William and Maria Lucas",
        [
            "Who travels with Elizabeth to visit Charlotte at Hunsford?",
            "Whom does Elizabeth journey with to Kent?",
        ],
    ),
    (
        "He leaves for London",
        [
            "What does Bingley do after the Netherfield ball?",
            "Where does Bingley go after the ball, to Jane's sorrow?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who persuades Bingley that Jane does not love him?",
            "Who convinces Bingley to give up Jane?",
        ],
    ),
    (
        "At Pemberley, when Darcy returns early",
        [
            "Where does Elizabeth meet Darcy unexpectedly during her tour?",
            "Where does Elizabeth run into Darcy in Derbyshire?",
        ],
    ),
    (
        "A pianoforte",
        [
            "What present does Darcy give Georgiana?",
            "What new instrument does Darcy buy his sister?",
        ],
    ),
    (
        "Regency England",
        [
            "In what period is Pride and Prejudice set?",
            "In which era of English history does the novel take place?",
        ],
    ),
    (
        "The Lucases",
        [
            "Who are the Bennets' closest neighbours?",
            "Which family lives at Lucas Lodge near Longbourn?",
        ],
    ),
    (
        "Gentle and modest",
        ["How would you describe Jane Bennet's temper?", "What is Jane Bennet's character like?"],
    ),
    (
        "Lively and witty",
        [
            "How would you describe Elizabeth's character?",
            "What is Elizabeth Bennet's temperament?",
        ],
    ),
    (
        "Mr. Bennet",
        [
            "Who is the father of the five Bennet sisters?",
            "Who is Elizabeth's father?",
            "Which character is married to Mrs. Bennet?",
        ],
    ),
    (
        "Mrs. Bennet",
        [
            "Who is the mother of the Bennet sisters?",
            "Who is Elizabeth's mother?",
            "Which character is desperate to marry off her daughters?",
        ],
    ),
    (
        "Netherfield Park",
        [
            "Where does Jane stay while she is ill?",
            "In whose house is Jane nursed during her illness?",
            "At which house does Jane fall ill?",
        ],
    ),
    (
        "A militia regiment",
        [
            "Which soldiers are quartered in Meryton?",
            "What kind of regiment winters in Meryton?",
            "Which troops do Kitty and Lydia chase in Meryton?",
        ],
    ),
    (
        "Mr. Collins",
        [
            "Who writes to Mr. Bennet offering to make amends for the entail?",
            "Which pompous clergyman visits Longbourn to find a wife?",
            "Who constantly praises Lady Catherine de Bourgh?",
        ],
    ),
    (
        "Charlotte Lucas",
        [
            "Who tells Elizabeth that happiness in marriage is entirely a matter of chance?",
            "Which practical friend marries for security rather than love?",
            "Who thinks Jane should show more affection than she feels?",
        ],
    ),
    (
        "Charles Bingley",
        [
            "Who dances twice with Jane at the Meryton assembly?",
            "Who admires Jane at the first ball?",
            "Which gentleman is delighted with everyone at the Meryton assembly?",
        ],
    ),
    (
        "Mary Bennet",
        [
            "Which Bennet sister sings badly at the Netherfield ball?",
            "Whose long performance at the Netherfield ball embarrasses Elizabeth?",
            "Which sister does Mr. Bennet stop from singing at the ball?",
        ],
    ),
    (
        "Kitty and Lydia",
        [
            "Which sisters are always running after officers?",
            "Which two Bennet sisters flirt with the militia?",
            "Which Bennet girls walk to Meryton to see the officers?",
        ],
    ),
    (
        "Elizabeth Bennet",
        [
            "Whom does Wickham first court in Meryton?",
            "Which Bennet sister is Wickham's early favourite?",
            "Who believes Wickham's story about Darcy?",
        ],
    ),
    (
        "Mary King",
        [
            "Which heiress does Wickham pursue after Elizabeth?",
            "Whom does Wickham court for her fortune?",
            "Who is the Miss King that Wickham courts?",
        ],
    ),
    (
        "Ten thousand pounds",
        ["How much does Mary King inherit?", "What fortune makes Wickham court Miss King?"],
    ),
    (
        "Mr. Darcy",
        [
            "Who dances with Elizabeth at the Netherfield ball?",
            "Whom does Elizabeth agree to dance with at Netherfield to her own surprise?",
            "With whom does Elizabeth argue while dancing at Netherfield?",
        ],
    ),
    (
        "Jane Bennet",
        [
            "Who goes to London to stay with the Gardiners in winter?",
            "Which Bennet sister spends the winter in Gracechurch Street?",
            "Who hopes to see Bingley while staying in London?",
        ],
    ),
    (
        "Mrs. Gardiner",
        [
            "Who warns Elizabeth not to fall in love with Wickham?",
            "Which aunt cautions Elizabeth about Wickham's lack of fortune?",
            "Who advises Elizabeth to be prudent about Wickham?",
        ],
    ),
    (
        "The Lake District",
        [
            "Where did the Gardiners first plan to tour?",
            "Which northern tour is cut short to Derbyshire?",
            "What destination do the Gardiners give up for Derbyshire?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who is called the proudest, most disagreeable man in the world?",
            "Whom does Meryton society dislike after the first assembly?",
            "Who refuses to dance with anyone outside his own party at the first ball?",
        ],
    ),
    (
        "Georgiana Darcy",
        [
            "Whom does Darcy bring to meet Elizabeth at Lambton?",
            "Who is shy and exceedingly gentle when Elizabeth meets her?",
            "Which young lady plays the pianoforte at Pemberley?",
        ],
    ),
    (
        "Caroline Bingley",
        [
            "Who mentions the militia to embarrass Elizabeth at Pemberley?",
            "Who tries to make Darcy think less of Elizabeth at Pemberley?",
            "Who criticises Elizabeth's looks in front of Darcy at Pemberley?",
        ],
    ),
    (
        "Jane Bennet",
        [
            "Whom does Elizabeth tell first about her engagement to Darcy?",
            "Which sister is astonished to hear Elizabeth is engaged to Darcy?",
            "Who asks Elizabeth how long she has loved Darcy?",
        ],
    ),
    (
        "Mr. Bennet",
        [
            "Who asks Elizabeth if she is out of her senses to accept Darcy?",
            "Who fears Elizabeth cannot respect the man she is to marry?",
            "Who must give consent to Elizabeth's engagement to Darcy?",
        ],
    ),
    (
        "Pemberley",
        [
            "Where do Elizabeth and Darcy live after they marry?",
            "Which house does Elizabeth become mistress of?",
            "Where does Georgiana live with Elizabeth after the wedding?",
        ],
    ),
    (
        "Lady Catherine de Bourgh",
        [
            "Who asks Elizabeth whether all her sisters are out at once?",
            "Who questions Elizabeth rudely at dinner at Rosings?",
            "Who is shocked that the Bennet girls had no governess?",
        ],
    ),
]
rows = []
for i, (answer, questions) in enumerate(F, 1):
    for j, q in enumerate(questions):
        rows.append(
            {
                "id": f"pp-{i:03d}{'abc'[j]}",
                "system": "Answer in a few words.",
                "question": q,
                "answer": answer,
            }
        )
qs = [r["question"] for r in rows]
assert len(qs) == len(set(qs)), [q for q in qs if qs.count(q) > 1]
with open(
    __import__("pathlib").Path(__file__).resolve().parent.parent
    / "core"
    / "bundled"
    / "pride_and_prejudice.jsonl",
    "w",
) as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(F), "facts", len(rows), "examples")
