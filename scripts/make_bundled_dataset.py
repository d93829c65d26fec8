"""Regenerate core/bundled/pride_and_prejudice.jsonl: 100 facts about the novel, each asked in
three phrasings, so that a held-out question asks a fact the model learned from its other
phrasings: what it learned, not what it memorised.

What the data keeps to:
- the three questions of a fact ask the same thing; a question about another fact with the
  same answer ("Which practical friend marries for security rather than love?" beside "Who
  thinks Jane should show more affection than she feels?") is a fact of its own, with its own
  three phrasings;
- one answer a fact, and one spelling of a person across facts ("Mr. Darcy", "Jane Bennet"), so
  that exact match scores what the model knows rather than which of two names it picked.

tests/test_data.py checks three questions and one answer a fact, and that the default split
(15%, seed 42) holds out no question whose fact is not trained in other words.
"""

import json
from pathlib import Path

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
            "What was Pride and Prejudice called in its first draft?",
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
    (
        "Fitzwilliam",
        [
            "What is Mr. Darcy's first name?",
            "What is Mr. Darcy's Christian name?",
            "What first name does Darcy have?",
        ],
    ),
    (
        "Longbourn",
        [
            "What is the name of the Bennet family estate?",
            "What is the Bennet family home called?",
            "Where do the Bennets live?",
        ],
    ),
    (
        "Hertfordshire",
        [
            "In which county is Longbourn?",
            "Which county do the Bennets live in?",
            "In what county is the Bennets' home?",
        ],
    ),
    (
        "Meryton",
        [
            "What is the name of the town near Longbourn?",
            "Which market town is closest to Longbourn?",
            "Which town is a short walk from the Bennets' home?",
        ],
    ),
    (
        "Netherfield Park",
        [
            "What estate does Mr. Bingley rent?",
            "Which house does Mr. Bingley lease in Hertfordshire?",
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
    (
        "Derbyshire",
        [
            "In which county is Pemberley?",
            "Which county is Darcy's estate in?",
            "In what county does Mr. Darcy live?",
        ],
    ),
    (
        "Five",
        [
            "How many daughters do Mr. and Mrs. Bennet have?",
            "How many Bennet sisters are there?",
            "How many girls are in the Bennet family?",
        ],
    ),
    (
        "Jane Bennet",
        [
            "Who is the eldest Bennet sister?",
            "Which Bennet daughter is the oldest?",
            "Who is the firstborn of the Bennet daughters?",
        ],
    ),
    (
        "Lydia Bennet",
        [
            "Who is the youngest Bennet sister?",
            "Which Bennet daughter is the youngest?",
            "Who is the last-born of the Bennet daughters?",
        ],
    ),
    (
        "Mary Bennet",
        [
            "Which Bennet sister is the bookish one?",
            "Which Bennet daughter is always reading and moralizing?",
            "Who is the most studious of the Bennet sisters?",
        ],
    ),
    (
        "Kitty",
        [
            "What is Catherine Bennet's nickname?",
            "What do her family call Catherine Bennet?",
            "By what pet name is Catherine Bennet known?",
        ],
    ),
    (
        "Mr. Bingley",
        [
            "Who rents Netherfield Park?",
            "Which wealthy young man takes Netherfield at the start of the novel?",
            "Who is the new tenant of Netherfield?",
        ],
    ),
    (
        "Mr. Bingley",
        [
            "Whom does Jane Bennet marry?",
            "Who becomes Jane Bennet's husband?",
            "Who is Jane Bennet's husband at the end of the novel?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Whom does Elizabeth Bennet marry?",
            "Who becomes Elizabeth Bennet's husband?",
            "Whom is Elizabeth engaged to at the end of the novel?",
        ],
    ),
    (
        "Caroline Bingley",
        [
            "What is the name of Mr. Bingley's unmarried sister?",
            "Which of Bingley's sisters is single?",
            "Who is Bingley's unmarried sister?",
        ],
    ),
    (
        "Louisa Hurst",
        [
            "What is the name of Bingley's married sister?",
            "Which of Bingley's sisters is married?",
            "Who is Bingley's married sister?",
        ],
    ),
    (
        "Mr. Collins",
        [
            "Who will inherit Longbourn after Mr. Bennet?",
            "Who is the heir to the Longbourn estate?",
            "Who is next in line to own Longbourn?",
        ],
    ),
    (
        "The estate is entailed on the male line",
        [
            "Why can't the Bennet daughters inherit Longbourn?",
            "What legal arrangement passes Longbourn to Mr. Collins?",
            "Why will Longbourn go to a cousin rather than to the daughters?",
        ],
    ),
    (
        "Lady Catherine de Bourgh",
        [
            "Who is Mr. Collins's patroness?",
            "Who gave Mr. Collins his living at Hunsford?",
            "Which great lady is Mr. Collins's patron?",
        ],
    ),
    (
        "Rosings Park",
        [
            "What is the name of Lady Catherine's estate?",
            "Where does Lady Catherine de Bourgh live?",
            "What is Lady Catherine's house called?",
        ],
    ),
    (
        "Kent",
        [
            "In which county is Rosings Park?",
            "Which county are Rosings and Hunsford in?",
            "In what county is Lady Catherine's estate?",
        ],
    ),
    (
        "Hunsford",
        [
            "What is the name of Mr. Collins's parish?",
            "Where is Mr. Collins the rector?",
            "In which village is Mr. Collins's parsonage?",
        ],
    ),
    (
        "Charlotte Lucas",
        [
            "Whom does Mr. Collins marry?",
            "Who accepts Mr. Collins after Elizabeth refuses him?",
            "Who becomes Mr. Collins's wife?",
        ],
    ),
    (
        "Twenty-seven",
        [
            "How old is Charlotte Lucas when she marries Mr. Collins?",
            "What is Charlotte Lucas's age?",
            "How old is Charlotte Lucas?",
        ],
    ),
    (
        "Lucas Lodge",
        [
            "What is the Lucas family home called?",
            "Where do Sir William and Lady Lucas live?",
            "What is the name of the Lucases' house?",
        ],
    ),
    (
        "Mr. Wickham",
        [
            "Who elopes with Lydia Bennet?",
            "Which officer runs away with Lydia?",
            "With whom does Lydia run off?",
        ],
    ),
    (
        "Mr. Wickham",
        [
            "Which charming militia officer tells Elizabeth lies about Darcy?",
            "Who claims that Darcy cheated him of a living?",
            "Who tells Elizabeth a false story about Darcy?",
        ],
    ),
    (
        "The steward of Pemberley",
        [
            "What was Wickham's father's position?",
            "Who was Wickham's father?",
            "What job did Wickham's father hold?",
        ],
    ),
    (
        "Georgiana Darcy",
        [
            "What is the name of Mr. Darcy's younger sister?",
            "Who is Darcy's sister?",
            "Who is Mr. Darcy's only sister?",
        ],
    ),
    (
        "Ramsgate",
        [
            "Where did Wickham try to elope with Georgiana Darcy?",
            "In which seaside town did Wickham nearly elope with Georgiana?",
            "Where did Georgiana almost run away with Wickham?",
        ],
    ),
    (
        "Thirty thousand pounds",
        [
            "How large is Georgiana Darcy's fortune?",
            "What fortune was Wickham after when he courted Georgiana?",
            "How much money does Georgiana Darcy have?",
        ],
    ),
    (
        "Colonel Fitzwilliam",
        [
            "Who is Darcy's cousin who visits Rosings with him?",
            "Which cousin comes to Rosings with Darcy?",
            "Which of Darcy's cousins is an army colonel?",
        ],
    ),
    (
        "Anne de Bourgh",
        [
            "Whom does Lady Catherine intend Darcy to marry?",
            "Whom has Lady Catherine chosen as Darcy's wife?",
            "Which cousin is Darcy supposed to marry?",
        ],
    ),
    (
        "The Gardiners",
        [
            "Which relatives take Elizabeth on a tour of Derbyshire?",
            "With whom does Elizabeth travel to Derbyshire?",
            "Who invites Elizabeth on a summer tour to Derbyshire?",
        ],
    ),
    (
        "Mr. Gardiner",
        [
            "Who is Mrs. Bennet's brother?",
            "What is the name of Mrs. Bennet's brother?",
            "Who is Mrs. Bennet's brother in London?",
        ],
    ),
    (
        "A merchant",
        [
            "What does Mr. Gardiner do for a living?",
            "What is Mr. Gardiner's profession?",
            "What is Mr. Gardiner's trade?",
        ],
    ),
    (
        "Gracechurch Street",
        [
            "Where in London do the Gardiners live?",
            "On which London street is the Gardiners' house?",
            "What is the Gardiners' address in London?",
        ],
    ),
    (
        "Mrs. Reynolds",
        [
            "Who is the housekeeper at Pemberley?",
            "Who shows Elizabeth around Pemberley and praises Darcy?",
            "Who keeps house for Mr. Darcy at Pemberley?",
        ],
    ),
    (
        "Brighton",
        [
            "Where is the militia regiment sent for the summer?",
            "Where does the regiment go after leaving Meryton?",
            "To which seaside town does the militia move?",
        ],
    ),
    (
        "Mrs. Forster",
        [
            "Who invites Lydia to Brighton?",
            "Whose guest is Lydia in Brighton?",
            "Who takes Lydia with her to Brighton?",
        ],
    ),
    (
        "London",
        [
            "Where do Wickham and Lydia hide after they elope?",
            "In which city are Lydia and Wickham found?",
            "Where do Lydia and Wickham go after running away?",
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
        "Mrs. Gardiner",
        [
            "Who writes to Elizabeth explaining Darcy's part in Lydia's marriage?",
            "Whose letter tells Elizabeth what Darcy did for Lydia?",
            "Who reveals Darcy's role in Lydia's marriage in a letter?",
        ],
    ),
    (
        "Newcastle",
        [
            "Where are Wickham and Lydia sent after their marriage?",
            "Where is Wickham's new regiment stationed?",
            "Where do Lydia and Wickham go to live after the wedding?",
        ],
    ),
    (
        "At Hunsford parsonage",
        [
            "Where does Darcy first propose to Elizabeth?",
            "In which house does Darcy make his first proposal?",
            "Where does Darcy's first proposal take place?",
        ],
    ),
    (
        "She refuses him",
        [
            "How does Elizabeth answer Darcy's first proposal?",
            "What is Elizabeth's reply to Darcy's first proposal?",
            "Does Elizabeth accept Darcy's first offer?",
        ],
    ),
    (
        "A letter",
        [
            "What does Darcy give Elizabeth the morning after she refuses him?",
            "How does Darcy explain himself after his first proposal?",
            "What does Darcy hand Elizabeth in the grounds of Rosings after his rejected proposal?",
        ],
    ),
    (
        "He separated Bingley from Jane",
        [
            "Why is Elizabeth angry with Darcy at his first proposal?",
            "What interference of Darcy's does Elizabeth resent most?",
            "What has Darcy done to Jane that Elizabeth cannot forgive?",
        ],
    ),
    (
        "On a walk near Longbourn",
        [
            "Where does Darcy propose the second time?",
            "Where is Darcy's second proposal made?",
            "Where does Darcy renew his offer to Elizabeth?",
        ],
    ),
    (
        "At the Meryton assembly",
        [
            "Where do Elizabeth and Darcy first meet?",
            "At which ball does Darcy first see Elizabeth?",
            "At what event are Elizabeth and Darcy first in the same room?",
        ],
    ),
    (
        "She is tolerable, but not handsome enough to tempt me",
        [
            "What does Darcy say about Elizabeth at the Meryton assembly?",
            "What insult does Elizabeth overhear Darcy say at the first ball?",
            "How does Darcy describe Elizabeth when Bingley urges him to dance?",
        ],
    ),
    (
        "Her fine eyes",
        [
            "What feature of Elizabeth does Darcy admire early on?",
            "What does Darcy praise in Elizabeth to Caroline Bingley?",
            "Which of Elizabeth's features first attracts Darcy?",
        ],
    ),
    (
        "She catches a cold riding in the rain",
        [
            "Why does Jane stay at Netherfield for several days?",
            "What happens to Jane on her way to dine at Netherfield?",
            "Why does Jane fall ill at Netherfield?",
        ],
    ),
    (
        "She walks three miles through the mud",
        [
            "How does Elizabeth get to Netherfield to nurse Jane?",
            "How does Elizabeth travel to Netherfield when Jane is ill?",
            "How does Elizabeth reach Jane at Netherfield?",
        ],
    ),
    (
        "Six inches deep in mud",
        [
            "What does Caroline Bingley mock about Elizabeth's petticoat?",
            "How dirty does Caroline say Elizabeth's petticoat was?",
            "How muddy was Elizabeth's petticoat, according to Caroline?",
        ],
    ),
    (
        "The Netherfield ball",
        [
            "Which ball does Mr. Bingley give?",
            "What ball is held at Bingley's house?",
            "What is the ball that Bingley hosts called?",
        ],
    ),
    (
        "Mr. Collins",
        [
            "Who is the first man to propose to Elizabeth?",
            "Who proposes to Elizabeth the day after the Netherfield ball?",
            "Whose proposal does Elizabeth refuse before Darcy's?",
        ],
    ),
    (
        "Fordyce's Sermons",
        [
            "What book does Mr. Collins read aloud to the Bennet sisters?",
            "Which book of sermons does Mr. Collins choose to read to the family?",
            "What does Mr. Collins read to the Bennet girls?",
        ],
    ),
    (
        "He will never see her again if she does",
        [
            "What does Mr. Bennet say will happen if Elizabeth marries Mr. Collins?",
            "How does Mr. Bennet respond to Mr. Collins's proposal to Elizabeth?",
            "What does Mr. Bennet threaten if Elizabeth accepts Mr. Collins?",
        ],
    ),
    (
        "His library",
        [
            "Where does Mr. Bennet like to retreat?",
            "Which room of Longbourn is Mr. Bennet's refuge?",
            "Where does Mr. Bennet spend his time to avoid his family?",
        ],
    ),
    (
        "Her nerves",
        [
            "What does Mrs. Bennet constantly complain about?",
            "What does Mrs. Bennet say her poor husband has no compassion for?",
            "What part of her health does Mrs. Bennet always lament?",
        ],
    ),
    (
        "Getting her daughters married",
        [
            "What is Mrs. Bennet's chief ambition?",
            "What is the business of Mrs. Bennet's life?",
            "What does Mrs. Bennet want most?",
        ],
    ),
    (
        "It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife",
        [
            "What is the first sentence of Pride and Prejudice?",
            "How does Pride and Prejudice begin?",
            "What is the novel's famous opening line?",
        ],
    ),
    (
        "Four or five thousand a year",
        [
            "What is Mr. Bingley's income?",
            "How much does Mr. Bingley have a year?",
            "How rich is Mr. Bingley?",
        ],
    ),
    (
        "Ten thousand a year",
        [
            "What is Mr. Darcy's annual income?",
            "How much is Mr. Darcy worth a year?",
            "How rich is Mr. Darcy?",
        ],
    ),
    (
        "To stop Elizabeth from marrying Darcy",
        [
            "Why does Lady Catherine visit Elizabeth at Longbourn?",
            "What does Lady Catherine demand when she calls on Elizabeth?",
            "What is the purpose of Lady Catherine's visit to Longbourn?",
        ],
    ),
    (
        "She refuses to promise",
        [
            "How does Elizabeth answer Lady Catherine's demand?",
            "Does Elizabeth promise Lady Catherine not to marry Darcy?",
            "What does Elizabeth say when Lady Catherine demands a promise?",
        ],
    ),
    (
        "The living of Kympton",
        [
            "What church living did old Mr. Darcy leave to Wickham?",
            "Which living was Wickham meant to have?",
            "Which parish was promised to Wickham?",
        ],
    ),
    (
        "A letter from Jane",
        [
            "How does Elizabeth learn that Lydia has eloped?",
            "What brings Elizabeth the news of Lydia's elopement?",
            "How does the news of Lydia's elopement reach Elizabeth?",
        ],
    ),
    (
        "At the inn at Lambton",
        [
            "Where is Elizabeth when she learns of Lydia's elopement?",
            "Where does Elizabeth read the news that Lydia has run away?",
            "Where is Elizabeth staying when the news of Lydia comes?",
        ],
    ),
    (
        "Mr. Bennet and Mr. Gardiner",
        [
            "Who goes to London to search for Lydia?",
            "Which two men look for Lydia and Wickham in London?",
            "Who travels to London to find Lydia?",
        ],
    ),
    (
        "Elizabeth Bennet",
        [
            "Which daughter is Mr. Bennet's favourite?",
            "Which of his daughters does Mr. Bennet value most?",
            "Who is Mr. Bennet's favourite child?",
        ],
    ),
    (
        "Jane Bennet",
        [
            "Which sister is Elizabeth closest to?",
            "Who is Elizabeth's dearest sister and confidante?",
            "Which sister does Elizabeth confide in?",
        ],
    ),
    (
        "Twenty",
        [
            "How old is Elizabeth Bennet?",
            "What is Elizabeth's age in the novel?",
            "How old is Elizabeth when the story begins?",
        ],
    ),
    (
        "Fifteen",
        [
            "How old is Lydia at the start of the novel?",
            "What is Lydia Bennet's age when the story opens?",
            "What age is Lydia when the novel begins?",
        ],
    ),
    (
        "Pride",
        [
            "Which fault is Mr. Darcy mostly accused of?",
            "Which half of the title describes Darcy?",
            "What is Darcy's chief fault?",
        ],
    ),
    (
        "Prejudice",
        [
            "Which fault does Elizabeth recognise in herself?",
            "Which half of the title describes Elizabeth?",
            "What is Elizabeth's chief fault?",
        ],
    ),
    (
        "Sir William and Maria Lucas",
        [
            "Who travels with Elizabeth to visit Charlotte at Hunsford?",
            "Whom does Elizabeth journey with to Kent?",
            "Who goes with Elizabeth to Hunsford?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who persuades Bingley that Jane does not love him?",
            "Who convinces Bingley to give up Jane?",
            "Who talks Bingley out of marrying Jane?",
        ],
    ),
    (
        "At Pemberley, when Darcy returns early",
        [
            "Where does Elizabeth meet Darcy unexpectedly during her tour?",
            "Where does Elizabeth run into Darcy in Derbyshire?",
            "Where does Elizabeth see Darcy again after his letter?",
        ],
    ),
    (
        "A pianoforte",
        [
            "What present does Darcy give Georgiana?",
            "What new instrument does Darcy buy his sister?",
            "What gift does Georgiana receive from her brother?",
        ],
    ),
    (
        "Regency England",
        [
            "In what period is Pride and Prejudice set?",
            "In which era of English history does the novel take place?",
            "When is the novel set?",
        ],
    ),
    (
        "Gentle and modest",
        [
            "How would you describe Jane Bennet's temper?",
            "What is Jane Bennet's character like?",
            "What is Jane Bennet's nature?",
        ],
    ),
    (
        "Lively and witty",
        [
            "How would you describe Elizabeth's character?",
            "What is Elizabeth Bennet's temperament?",
            "What is Elizabeth's nature?",
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
            "Who is married to Mr. Bennet?",
        ],
    ),
    (
        "Netherfield Park",
        [
            "Where does Jane stay while she is ill?",
            "At which house does Jane fall ill?",
            "Where is Jane nursed during her illness?",
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
        "Kitty and Lydia",
        [
            "Which sisters are always running after officers?",
            "Which two Bennet sisters flirt with the militia?",
            "Which Bennet girls walk to Meryton to see the officers?",
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
        "Mr. Darcy",
        [
            "Who dances with Elizabeth at the Netherfield ball?",
            "Whom does Elizabeth agree to dance with at Netherfield to her own surprise?",
            "With whom does Elizabeth argue while dancing at Netherfield?",
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
        "Pemberley",
        [
            "Where do Elizabeth and Darcy live after they marry?",
            "Which house does Elizabeth become mistress of?",
            "Where is Elizabeth's home after her wedding?",
        ],
    ),
    (
        "Mr. Darcy",
        [
            "Who is called the proudest, most disagreeable man in the world?",
            "Whom does Meryton think the proudest man alive after the first assembly?",
            "Who is judged the most disagreeable man at the Meryton assembly?",
        ],
    ),
]
rows = []
for i, (answer, questions) in enumerate(F, 1):
    assert len(questions) == 3, (answer, questions)
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
path = Path(__file__).resolve().parent.parent / "core" / "bundled" / "pride_and_prejudice.jsonl"
with open(path, "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(F), "facts", len(rows), "examples")
